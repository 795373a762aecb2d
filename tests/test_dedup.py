import io

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from pipeline.config import parse
from pipeline.dedup import DedupConfig, Prints, content_box, dedup, dedup_report, fingerprint, similarity
from pipeline.errors import ParamsError
from pipeline.images import content_hashes, load_rgb
from pipeline.landmarks import LandmarksConfig, face_landmarks
from pipeline.manifest import new_manifest
from pipeline.masks.render import render_mask
from tests import edits
from tests.conftest import write_image


@pytest.fixture
def row(tmp_path):
    def make(i: str, rgb: np.ndarray, label: str = "no_mask", group: str | None = None, **extra) -> dict:
        path = write_image(tmp_path / f"{i}.png", rgb)
        return {
            "id": i,
            "source": extra.pop("source", "s"),
            "origin": f"{i}.png",
            "path": str(path),
            "width": rgb.shape[1],
            "height": rgb.shape[0],
            "label": label,
            "group": group or f"g{i}",
            "synthetic": False,
            **content_hashes(rgb),
            **extra,
        }

    return make


@pytest.fixture
def faces(utk_faces):
    return [load_rgb(p) for p in utk_faces[:12]]


def edited(face: np.ndarray) -> dict[str, np.ndarray]:
    """The edits one photo goes through on its way round the web."""
    im = Image.fromarray(face)
    w, h = im.size
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=70)
    return {
        "jpeg70": np.asarray(Image.open(buf).convert("RGB")),
        "half": np.asarray(im.resize((w // 2, h // 2), Image.LANCZOS)),
        "crop5": np.asarray(im.crop((w // 20, h // 20, w - w // 20, h - h // 20))),
        "corner5": np.asarray(im.crop((w // 20, h // 20, w, h))),
        "bright20": np.asarray(ImageEnhance.Brightness(im).enhance(1.2)),
        "mirror": np.ascontiguousarray(face[:, ::-1]),
    }


def test_distinct_real_faces_are_all_kept(faces, row):
    kept, rejected = dedup(new_manifest(row(f"f{i}", f) for i, f in enumerate(faces)), DedupConfig(workers=1))
    assert len(kept) == len(faces) and len(rejected) == 0


def test_the_views_verification_reads_are_kept_on_disk_not_in_ram(faces, row, tmp_path):
    rows = [row(f"f{i}", f) for i, f in enumerate(faces[:3])]
    (tmp_path / "broken.png").write_bytes(b"not a png")
    paths = [r["path"] for r in rows] + [str(tmp_path / "broken.png")]
    (tmp_path / "prints").mkdir()
    prints = Prints.of(paths, 1, tmp_path / "prints")
    assert isinstance(prints.views, np.memmap)
    assert (tmp_path / "prints" / "views.npy").stat().st_size >= prints.views.nbytes
    for i, path in enumerate(paths[:3]):
        one = fingerprint(path)
        assert np.array_equal(prints.views[i], one.views) and np.array_equal(prints.codes[i], one.codes)
    assert prints.unreadable == {3: fingerprint(paths[3])}


def test_edited_copies_cluster_and_the_original_is_kept(faces, row):
    face = faces[0]
    copies = edited(face)
    rows = [
        row("orig", face, group="photoA"),
        row("copy", face.copy(), group="photoB"),  # byte-identical pixels
        *(row(name, rgb) for name, rgb in copies.items()),
        row("siblingB", faces[10], group="photoB"),  # another face on photo B
        *(row(f"other{i}", f) for i, f in enumerate(faces[1:10])),
    ]
    kept, rejected = dedup(new_manifest(rows), DedupConfig(workers=1))
    reasons = dict(zip(rejected["id"], rejected["reason"], strict=True))
    cluster = ["orig", "copy", *copies]
    rep = kept[kept["id"].isin(cluster)]
    assert len(rep) == 1 and len(kept) == 11
    # one of the full-size members is kept (sharpness breaks the tie); the smaller ones never
    assert rep["id"].item() in {"orig", "copy", "jpeg70", "bright20", "mirror"}
    assert {reasons[m] for m in cluster if m != rep["id"].item()} <= {"near_duplicate", "exact_duplicate"}
    assert (rejected["duplicate_of"] == rep["id"].item()).all()
    # the kept row stands for photos A and B and every copy: their groups merge, so B's
    # other face lands in the same split as the representative
    groups = kept.set_index("id")["group"]
    assert groups["siblingB"] == rep["group"].item()
    assert groups.drop(["siblingB", rep["id"].item()]).nunique() == 9


def test_a_label_conflict_is_held_out_whole(faces, row):
    rows = [row("a", faces[0], label="mask"), row("b", faces[0][:, ::-1].copy()), row("c", faces[1])]
    kept, rejected = dedup(new_manifest(rows), DedupConfig(workers=1))
    assert list(kept["id"]) == ["c"]
    assert set(rejected["reason"]) == {"label_conflict"} and sorted(rejected["id"]) == ["a", "b"]
    assert rejected.set_index("id").at["a", "detail"] == "labels=mask,no_mask with=b"
    conflicts = dedup_report(kept, rejected, DedupConfig())["label_conflicts"]
    assert [[(m["id"], m["label"]) for m in members] for members in conflicts] == [
        [("a", "mask"), ("b", "no_mask")]
    ]


def test_report_counts_clusters_and_those_spanning_sources(faces, row):
    copies = edited(faces[0])
    rows = [
        row("orig", faces[0]),
        row("jpeg", copies["jpeg70"], source="other"),
        row("half", copies["half"]),
        row("twin", faces[1]),
        row("twin_copy", faces[1].copy()),
        row("alone", faces[2]),
    ]
    kept, rejected = dedup(new_manifest(rows), DedupConfig(workers=1))
    report = dedup_report(kept, rejected, DedupConfig())
    assert report["clusters"] == 2 and report["faces_in_clusters"] == 5
    assert report["cluster_sizes"] == {"2": 1, "3": 1}
    assert [c["sources"] for c in report["cross_source_clusters"]] == [["other", "s"]]
    assert report["label_conflicts"] == [] and report["params"]["verify_ncc"] == 0.92


def test_real_kept_over_synthetic_and_larger_over_smaller(faces, row):
    big = np.asarray(Image.fromarray(faces[0]).resize((400, 400), Image.LANCZOS))
    rows = [row("synth", big, synthetic=True), row("real_small", faces[0]), row("real_big", big)]
    kept, _ = dedup(new_manifest(rows), DedupConfig(workers=1))
    assert list(kept["id"]) == ["real_big"]


def test_copies_across_two_sources_collapse_to_one(faces, row):
    rows = [row(f"a{i}", f, source="kaggle") for i, f in enumerate(faces[:6])]
    rows += [row(f"b{i}", edited(f)["jpeg70"], source="rmfd") for i, f in enumerate(faces[3:9])]
    kept, rejected = dedup(new_manifest(rows), DedupConfig(workers=1))
    assert len(kept) == 9 and len(rejected) == 3
    for i in range(3):  # each kaggle face and its rmfd re-encode: one kept, one duplicate_of it
        pair = {f"a{i + 3}", f"b{i}"}
        (lost,) = pair & set(rejected["id"])
        (kept_id,) = pair - {lost}
        assert rejected.set_index("id").at[lost, "duplicate_of"] == kept_id


def test_faces_too_close_to_split_share_a_group_even_when_both_are_kept(faces, row):
    rows = [row("a", faces[0]), row("b", edited(faces[0])["jpeg70"]), row("c", faces[1])]
    kept, rejected = dedup(new_manifest(rows), DedupConfig(workers=1, verify_ncc=1.0))  # never verified
    assert rejected.empty
    groups = kept.set_index("id")["group"]
    assert groups["a"] == groups["b"] != groups["c"]


def test_verification_tells_a_copy_from_another_person(tmp_path, faces):
    def face(name, rgb):
        return fingerprint(str(write_image(tmp_path / f"{name}.png", rgb)))

    people = [face(f"p{i}", f) for i, f in enumerate(faces)]
    copy = face("copy", edited(faces[0])["crop5"])
    assert similarity(people[0], copy).whole > 0.95
    assert max(similarity(people[0], other).whole for other in people[1:]) < 0.9


def framed(face: np.ndarray, side: float, fill: tuple[int, int, int] | None = (0, 0, 0), letterbox=False):
    return np.asarray(edits.framed(Image.fromarray(face), side, fill, letterbox))


def copy_pairs(rejected) -> set[frozenset]:
    """Each face dedup dropped, with the face it kept instead."""
    return {frozenset(p) for p in zip(rejected["id"], rejected["duplicate_of"], strict=True)}


def test_a_uniform_frame_is_trimmed_and_a_one_sided_flat_strip_is_not(faces):
    grey = np.asarray(Image.fromarray(faces[0]).convert("L"))
    h, w = grey.shape
    boxed = np.asarray(Image.fromarray(framed(faces[0], 0.12, (255, 255, 255))).convert("L"))
    top, bottom, left, right = content_box(boxed)
    assert abs(top - round(0.12 * h)) <= 1 and abs(left - round(0.12 * w)) <= 1
    assert abs(bottom - top - h) <= 2 and abs(right - left - w) <= 2
    strip = grey.copy()
    strip[:, : w // 6] = 0  # the photo's own black fill on one side: not a frame
    assert content_box(strip) == (0, h, 0, w)


def test_framed_copies_find_their_photo_and_never_join_strangers(faces, row):
    rows = [row(f"p{i}", f) for i, f in enumerate(faces[:6])]
    rows += [row(f"black{i}", framed(f, 0.1)) for i, f in enumerate(faces[6:12])]  # strangers, one frame
    rows += [
        row("p0_black15", framed(faces[0], 0.15)),
        row("p1_white5", framed(faces[1], 0.05, (255, 255, 255))),
        row("p2_blurred10", framed(faces[2], 0.1, None)),
        row("p3_letterbox", framed(faces[3], 0.12, letterbox=True)),
    ]
    kept, rejected = dedup(new_manifest(rows), DedupConfig(workers=1))
    assert len(kept) == 12 and set(kept["id"]) >= {f"black{i}" for i in range(6)}
    assert copy_pairs(rejected) == {
        frozenset(p)
        for p in [("p0", "p0_black15"), ("p1", "p1_white5"), ("p2", "p2_blurred10"), ("p3", "p3_letterbox")]
    }


def test_small_rotations_and_crops_of_15_percent_are_copies(faces, row):
    def turned(face, degrees):
        return np.asarray(Image.fromarray(face).rotate(degrees, resample=Image.BICUBIC))

    def cropped(face, f):
        h, w = face.shape[:2]
        return face[round(h * f) : round(h * (1 - f)), round(w * f) : round(w * (1 - f))].copy()

    rows = [row(f"p{i}", f) for i, f in enumerate(faces)]
    rows += [row("p0_rot5", turned(faces[0], 5)), row("p1_rot-4", turned(faces[1], -4))]
    rows += [row("p2_crop15", cropped(faces[2], 0.15)), row("p3_crop12", cropped(faces[3], 0.12))]
    kept, rejected = dedup(new_manifest(rows), DedupConfig(workers=1))
    assert len(kept) == len(faces)
    assert copy_pairs(rejected) == {
        frozenset(p)
        for p in [("p0", "p0_rot5"), ("p1", "p1_rot-4"), ("p2", "p2_crop15"), ("p3", "p3_crop12")]
    }


@pytest.fixture
def masked(utk_faces):
    """A real face and the same photo with a mask drawn on it by the renderer."""
    found = face_landmarks(str(utk_faces[0]), LandmarksConfig())
    face = load_rgb(utk_faces[0])
    points = np.asarray(found["landmarks"], dtype=np.float64).reshape(68, 2)
    return face, render_mask(face, points, "surgical", "light_blue").image


def test_a_mask_drawn_on_a_photo_is_an_overlay_in_its_group_not_a_conflict(masked, faces, row):
    face, with_mask = masked
    rows = [
        row("bare", face),
        row("drawn", with_mask, label="mask"),
        row("bare_jpeg", edited(face)["jpeg70"]),
    ]
    rows += [row(f"other{i}", f) for i, f in enumerate(faces[1:8])]
    kept, rejected = dedup(new_manifest(rows), DedupConfig(workers=1))
    # the re-encoded copy is a duplicate of the bare photo; the masked photo is neither a
    # duplicate nor a conflict: both kept, one split group, each naming the other
    assert copy_pairs(rejected) == {frozenset(("bare", "bare_jpeg"))} and set(rejected["reason"]) == {
        "near_duplicate"
    }
    (bare,) = {"bare", "bare_jpeg"} - set(rejected["id"])  # the sharper of the two is kept
    by_id = kept.set_index("id")
    assert by_id.at[bare, "group"] == by_id.at["drawn", "group"]
    assert list(by_id.at[bare, "overlay_of"]) == ["drawn"] and list(by_id.at["drawn", "overlay_of"]) == [bare]
    assert by_id.drop([bare, "drawn"])["overlay_of"].isna().all()
    report = dedup_report(kept, rejected, DedupConfig())
    assert report["overlay_pairs"] == 1
    assert report["overlays"] == [{"ids": [bare, "drawn"], "labels": ["no_mask", "mask"]}]
    assert report["label_conflicts"] == []


def test_the_same_masked_photo_under_two_labels_is_still_a_conflict(masked, row):
    _, with_mask = masked
    rows = [row("drawn", with_mask, label="mask"), row("relabelled", edited(with_mask)["jpeg70"])]
    kept, rejected = dedup(new_manifest(rows), DedupConfig(workers=1))
    assert kept.empty and set(rejected["reason"]) == {"label_conflict"}


def test_an_unreadable_face_is_a_rejection(tmp_path, faces, row):
    rows = [row("a", faces[0])]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnope")
    rows.append({**row("b", faces[1]), "path": str(broken)})
    kept, rejected = dedup(new_manifest(rows), DedupConfig(workers=1))
    assert list(kept["id"]) == ["a"] and rejected["reason"].item() in {
        "truncated",
        "decode_error",
        "not_an_image",
    }


def test_bad_thresholds_are_refused():
    with pytest.raises(ValueError, match="group_distance"):
        DedupConfig(candidate_distance=4, group_distance=6)
    with pytest.raises(ParamsError, match="overlay_change"):
        parse(DedupConfig, {"overlay_change": 0}, "dedup")


@pytest.mark.realdata
@pytest.mark.slow
def test_on_the_real_sample_only_the_two_copied_photos_lose_faces(voc_sample, tmp_path, monkeypatch):
    """The Kaggle sample holds two copies of one photo (410 / 428, boxed slightly differently)
    and one crowd photo cropped two ways (623 / 847); every face removed must come from those."""
    from pipeline.ingest import IngestConfig, ingest_source
    from pipeline.sources import load_catalog
    from tests.conftest import ROOT

    monkeypatch.chdir(tmp_path)
    source = load_catalog(ROOT / "datasets" / "sources.yaml")["kaggle_face_mask_detection"]
    faces, _ = ingest_source(source, voc_sample, IngestConfig(workers=2), tmp_path)
    kept, rejected = dedup(faces, DedupConfig(workers=2))
    photos = set(rejected["origin"].str.extract(r"(maksssksksss\d+)")[0])
    assert set(rejected["reason"]) == {"near_duplicate"} and len(rejected) >= 6
    assert photos <= {"maksssksksss410", "maksssksksss428", "maksssksksss623", "maksssksksss847"}
    assert {"maksssksksss623", "maksssksksss847"} & photos and {"maksssksksss410", "maksssksksss428"} & photos
    # each removed face names the face it duplicates, on the other copy of its photo
    origin = faces.set_index("id")["origin"]
    for row in rejected.itertuples():
        kept_id = row.duplicate_of
        assert origin[kept_id] != row.origin and kept_id in set(kept["id"])
