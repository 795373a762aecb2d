from collections import Counter
from pathlib import Path

import defusedxml.ElementTree as SafeET
import numpy as np
import pandas as pd
import pytest

from pipeline.demo import build_demo
from pipeline.errors import SourceError
from pipeline.groups import merge_groups
from pipeline.images import load_rgb
from pipeline.ingest import IngestConfig, crop_box, ingest_source, join_copies
from pipeline.sources import load_catalog, parse_source
from tests.conftest import ROOT, write_image
from tests.corpus import build_corpus

KAGGLE = load_catalog(ROOT / "datasets" / "sources.yaml")["kaggle_face_mask_detection"]
FOLDERS = parse_source(
    "folders",
    {
        "title": "t",
        "licence": "l",
        "citation": "c",
        "fetch": {},
        "label_map": {"with_mask": "mask", "without_mask": "no_mask"},
        "parts": [{"path": "data", "layout": "folder_per_class", "faces": "crops"}],
    },
)


@pytest.mark.realdata
@pytest.mark.slow
def test_every_voc_box_is_a_crop_or_a_rejection(voc_sample, tmp_path):
    kept, rejected = ingest_source(KAGGLE, voc_sample, IngestConfig(workers=2), tmp_path)
    raw = Counter()
    for xml in (voc_sample / "annotations").glob("*.xml"):
        raw.update(o.findtext("name") for o in SafeET.parse(xml).getroot().iter("object"))
    assert sum(raw.values()) == 661 == len(kept) + len(rejected)
    got = Counter(kept["label_raw"]) + Counter(
        rejected["label"].map(
            {"mask": "with_mask", "no_mask": "without_mask", "incorrect_mask": "mask_weared_incorrect"}
        )
    )
    assert got == raw
    assert set(rejected["reason"]) <= {"tiny_box"}
    assert rejected["detail"].str.contains("min_face").all()
    # every crop is a real file of the recorded size, inside its photo
    for row in kept.sample(20, random_state=0).itertuples():
        assert (tmp_path / row.path).is_file()
        x0, y0, x1, y1 = row.box
        assert (x1 - x0, y1 - y0) == (row.width, row.height)
    # all crops of one photo share one group; different photos do not
    assert kept.groupby("origin")["group"].nunique().eq(1).all()
    assert kept["group"].nunique() == kept["origin"].nunique()


@pytest.mark.realdata
def test_boxes_past_the_edge_are_clamped(voc_sample, tmp_path):
    kept, _ = ingest_source(KAGGLE, voc_sample, IngestConfig(workers=1, min_face=1), tmp_path)
    from PIL import Image

    for row in kept.itertuples():
        with Image.open(voc_sample / row.origin) as im:
            w, h = im.size
        assert 0 <= row.box[0] < row.box[2] <= w and 0 <= row.box[1] < row.box[3] <= h


def test_crop_box_grows_by_margin_and_clamps():
    assert crop_box((10, 10, 30, 50), 100, 100, 0.1) == (8, 6, 32, 54)
    assert crop_box((0, 0, 100, 100), 100, 100, 0.5) == (0, 0, 100, 100)


def test_a_corpus_of_bad_files_is_rejected_with_reasons_and_good_files_survive(tmp_path):
    yy, xx = np.mgrid[0:96, 0:72]
    face = np.dstack([xx * 3, yy * 2, xx + yy]).astype(np.uint8)  # smooth, so JPEG keeps it
    data = tmp_path / "src" / "data"
    expected = build_corpus(data / "without_mask", face)
    write_image(data / "WithMask" / "ok.png", face)
    write_image(data / "sunglasses" / "odd.png", face)
    write_image(data / "loose.png", face)
    expected.update({"ok.png": None, "odd.png": "unknown_label", "loose.png": "no_label"})

    kept, rejected = ingest_source(FOLDERS, tmp_path / "src", IngestConfig(workers=2), tmp_path)

    def name(origin: str) -> str:
        return Path(origin).name

    got = {name(o): r for o, r in zip(rejected["origin"], rejected["reason"], strict=True)}
    got.update({name(o): None for o in kept["origin"]})
    assert got == expected
    assert len(kept) + len(rejected) == len(expected)
    assert sorted(kept["label"].unique()) == ["mask", "no_mask"]
    assert "sunglasses" in rejected.loc[rejected["reason"] == "unknown_label", "detail"].item()
    # every kept face is RGB the right way up, whatever it was stored as
    for row in kept.itertuples():
        if name(row.origin) != "one_pixel.png":
            assert (row.height, row.width) == (96, 72), name(row.origin)
        assert load_rgb(tmp_path / row.path).shape[2] == 3
    rotated = kept.loc[kept["origin"].str.endswith("exif_rotated.jpg"), "path"].item()
    assert np.abs(load_rgb(tmp_path / rotated).astype(int) - face).mean() < 8  # JPEG-close to the face


@pytest.mark.slow
def test_demo_source_ingests_faces_and_detects_photo_faces(tmp_path):
    build_demo(tmp_path / "raw", lfw_faces=5)
    catalog = load_catalog(ROOT / "datasets" / "sources.yaml")
    kept, rejected = ingest_source(
        catalog["demo"], tmp_path / "raw", IngestConfig(workers=1), tmp_path / "faces"
    )
    assert len(rejected) == 0
    photos = kept[kept["origin"].str.startswith("photos/")]
    # one face each: the detector's low-scoring hit on the astronaut's badge is dropped
    assert sorted(photos["origin"]) == ["photos/no_mask/astronaut.png", "photos/no_mask/grace_hopper.jpg"]
    assert (kept["label"] == "no_mask").all() and len(kept) == 7


@pytest.mark.slow
def test_the_cnn_detector_is_a_param_and_finds_the_same_faces(tmp_path):
    build_demo(tmp_path / "raw", lfw_faces=1)
    demo = load_catalog(ROOT / "datasets" / "sources.yaml")["demo"]
    config = IngestConfig(workers=1, detector="cnn", detector_upsample=0)
    kept, rejected = ingest_source(demo, tmp_path / "raw", config, tmp_path / "faces")
    photos = kept[kept["origin"].str.startswith("photos/")].sort_values("origin")
    assert len(rejected) == 0 and len(photos) == 2
    hog, _ = ingest_source(demo, tmp_path / "raw", IngestConfig(workers=1), tmp_path / "hog")
    hog = hog[hog["origin"].str.startswith("photos/")].sort_values("origin")
    for cnn_box, hog_box in zip(photos["box"], hog["box"], strict=True):
        overlap = [max(cnn_box[0], hog_box[0]), max(cnn_box[1], hog_box[1])]
        overlap += [min(cnn_box[2], hog_box[2]), min(cnn_box[3], hog_box[3])]
        assert (
            overlap[2] > overlap[0] and overlap[3] > overlap[1]
        )  # the same face, boxed a little differently


def test_single_class_parts_label_every_file_and_keep_person_folders(tmp_path, utk_faces):
    """RMFD-style trees: one folder per person under a masked and an unmasked root."""
    rmfd = parse_source(
        "rmfd",
        {
            "title": "t",
            "licence": "l",
            "citation": "c",
            "fetch": {},
            "label_map": {"masked": "mask", "unmasked": "no_mask"},
            "parts": [
                {"path": "masked", "layout": "single_class", "label": "masked", "faces": "crops"},
                {"path": "unmasked", "layout": "single_class", "label": "unmasked", "faces": "crops"},
                {"path": "absent", "layout": "single_class", "label": "unmasked", "faces": "crops"},
            ],
        },
    )
    for i, face in enumerate(utk_faces[:6]):
        folder = tmp_path / "raw" / ("masked" if i < 2 else "unmasked") / f"person {i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.jpg").write_bytes(face.read_bytes())
    kept, rejected = ingest_source(rmfd, tmp_path / "raw", IngestConfig(workers=1), tmp_path / "out")
    assert len(rejected) == 0 and Counter(kept["label"]) == {"mask": 2, "no_mask": 4}
    assert set(kept["label_raw"]) == {"masked", "unmasked"}
    assert {o.split("/")[1] for o in kept["origin"]} == {"person 0", "person 1"}
    with pytest.raises(SourceError, match="single_class"):
        parse_source(
            "bad",
            {
                **{k: "x" for k in ("title", "licence", "citation")},
                "fetch": {},
                "label_map": {},
                "parts": [{"path": ".", "layout": "single_class", "faces": "crops"}],
            },
        )


@pytest.mark.parametrize("bad", [{"detector": "haar"}, {"margin": -0.1}, {"min_face": 0}])
def test_bad_ingest_params_fail_before_any_work(bad):
    from pipeline.config import parse
    from pipeline.errors import ParamsError

    with pytest.raises(ParamsError, match=rf"`ingest.{next(iter(bad))}` must be"):
        parse(IngestConfig, bad, "ingest")


def test_groups_join_transitively_through_shared_keys():
    groups = pd.Series(["a", "b", "c", "d", "e"])
    assert merge_groups(groups, pd.Series(["k1", "k1", "k2", "k3", None])).tolist() == list("aacde")
    # b-a through k1 and b-c through k2 make one group, named by its smallest member
    chain = pd.DataFrame({"group": ["b", "b", "c", "a"], "key": ["k1", "k2", "k2", "k1"]})
    assert merge_groups(chain["group"], chain["key"]).tolist() == ["a", "a", "a", "a"]


@pytest.mark.realdata
def test_byte_identical_photos_under_two_names_share_one_group(voc_sample, tmp_path):
    kept, _ = ingest_source(KAGGLE, voc_sample, IngestConfig(workers=2), tmp_path)
    twins = kept["origin"].str.contains("maksssksksss(?:410|428)")
    assert kept.loc[twins, "origin"].nunique() == 2 and kept.loc[twins, "group"].nunique() == 2
    joined = join_copies(kept)
    assert joined.loc[twins, "group"].nunique() == 1
    assert kept.loc[twins, "origin_sha256"].nunique() == 1
    # no other photo is touched: every other photo keeps its own group
    assert joined.loc[~twins, "group"].nunique() == kept.loc[~twins, "origin"].nunique()
