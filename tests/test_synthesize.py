from collections import Counter

import numpy as np
import pytest
from PIL import Image

from pipeline.images import load_rgb
from pipeline.landmarks import LandmarksConfig, add_landmarks, points_of
from pipeline.manifest import WEARS, new_manifest
from pipeline.masks.canvas import face_frame
from pipeline.masks.geometry import outline, qa_failure, with_lower_chin
from pipeline.masks.kinds import KINDS
from pipeline.masks.render import render_mask
from pipeline.masks.textures import PATTERNS
from pipeline.synthesize import SynthesizeConfig, sheet, synthesize
from tests.conftest import write_image


def landmark(paths, **extra):
    df = new_manifest(
        {
            "id": f"r{i}",
            "source": "utk",
            "origin": p.name,
            "path": str(p),
            "label": "no_mask",
            "group": f"g{i}",
            "synthetic": False,
            "width": 200,
            "height": 200,
        }
        for i, p in enumerate(paths)
    )
    out, _ = add_landmarks(df, LandmarksConfig(workers=2))
    return out


@pytest.fixture
def landmarked(utk_faces):
    return landmark(utk_faces[:10])


@pytest.mark.realdata
def test_every_selected_face_gets_a_masked_child_sharing_its_group(landmarked, tmp_path):
    config = SynthesizeConfig(sources=("utk",), fraction=1.0, workers=1)
    out, rejected = synthesize(landmarked, config, tmp_path / "faces")
    children = out[out["synthetic"]]
    assert len(children) + len(rejected) == 10 and len(out) == 10 + len(children)
    assert len(children) >= 9
    parents = out.set_index("id")
    for _, child in children.iterrows():
        assert child["label"] == "mask" and child["wear"] == "correct"
        assert child["group"] == parents.at[child["parent_id"], "group"]
        assert child["mask_type"] in KINDS and child["mask_color"] in config.colors
        before = load_rgb(parents.at[child["parent_id"], "path"]).astype(int)
        after = load_rgb(tmp_path / child["path"]).astype(int)
        points = points_of(child)
        # the mouth changed, the eyes did not
        mouth = points[48:68].mean(0).round().astype(int)
        eye = points[36:42].mean(0).round().astype(int)
        assert np.abs(after[mouth[1], mouth[0]] - before[mouth[1], mouth[0]]).sum() > 20
        assert np.abs(after[eye[1], eye[0]] - before[eye[1], eye[0]]).sum() == 0


@pytest.mark.realdata
def test_selection_and_rendering_are_deterministic(landmarked, tmp_path):
    config = SynthesizeConfig(sources=("utk",), fraction=0.5, workers=1)
    a, _ = synthesize(landmarked, config, tmp_path / "a")
    b, _ = synthesize(landmarked.iloc[::-1], config, tmp_path / "b")
    assert sorted(a["id"]) == sorted(b["id"])
    assert sorted(a["sha256"].dropna()) == sorted(b["sha256"].dropna())
    # a face's fate does not depend on what else is in the set
    c, _ = synthesize(landmarked.iloc[:5], config, tmp_path / "c")
    assert set(c.loc[c["synthetic"], "parent_id"]) == set(
        a.loc[a["synthetic"] & a["parent_id"].isin(landmarked["id"].iloc[:5]), "parent_id"]
    )


@pytest.mark.realdata
def test_faces_without_landmarks_are_rejected_not_skipped(landmarked, tmp_path):
    broken = landmarked.copy()
    broken["landmarks"] = None
    broken["landmark_error"] = "implausible_geometry"
    out, rejected = synthesize(broken, SynthesizeConfig(sources=("utk",), fraction=1.0, workers=1), tmp_path)
    assert len(out) == 10 and len(rejected) == 10
    assert set(rejected["reason"]) == {"no_landmarks"}
    assert rejected["detail"].str.contains("implausible_geometry").all()


def _changed(before: np.ndarray, after: np.ndarray, point: np.ndarray) -> bool | None:
    """Whether the pixels around a landmark changed; None when it lies outside the image."""
    x, y = np.round(point).astype(int)
    h, w = before.shape[:2]
    if not (1 <= x < w - 1 and 1 <= y < h - 1):
        return None
    patch = np.s_[y - 1 : y + 2, x - 1 : x + 2]
    return bool(np.abs(after[patch].astype(int) - before[patch].astype(int)).sum(-1).mean() > 12)


# wear -> (landmarks that must change, landmarks that must not): nose tip, mouth centre,
# lower chin (QA's point 69), eye centres
PARTS = {"nose": 30, "mouth": 66, "chin": 69}
GEOMETRY = {
    "correct": (("nose", "mouth", "chin"), ()),
    "nose_exposed": (("mouth", "chin"), ("nose",)),
    "nose_mouth_exposed": (("chin",), ("nose", "mouth")),
    "chin_exposed": (("nose", "mouth"), ()),
}


@pytest.mark.realdata
@pytest.mark.parametrize("wear", list(WEARS))
def test_every_wear_masks_the_utkface_sample_evenly_and_covers_the_right_parts(utk_faces, tmp_path, wear):
    df = landmark(utk_faces)
    config = SynthesizeConfig(sources=("utk",), fraction=1.0, wears={wear: 1.0}, workers=2)
    out, rejected = synthesize(df, config, tmp_path / "faces")
    children = out[out["synthetic"]]
    assert len(children) >= 59, rejected[["reason", "detail"]].to_dict("records")
    # no race x gender cell (from the UTKFace file names) loses more than one face
    cell = {p.name: tuple(p.name.split("_")[1:3]) for p in utk_faces}
    lost = Counter(cell[o] for o in rejected["origin"])
    assert max(lost.values(), default=0) <= 1, lost
    assert set(children["label"]) == {"mask" if wear == "correct" else "incorrect_mask"}
    assert set(children["wear"]) == {wear} and children["mask_type"].nunique() >= 3
    parents = out.set_index("id")
    must_change, must_keep = GEOMETRY[wear]
    for _, child in children.iterrows():
        before = load_rgb(parents.at[child["parent_id"], "path"])
        after = load_rgb(tmp_path / child["path"])
        points = with_lower_chin(points_of(child))
        for part in must_change:
            assert _changed(before, after, points[PARTS[part]]) in (True, None), (child["origin"], part)
        for part in must_keep:
            assert _changed(before, after, points[PARTS[part]]) in (False, None), (child["origin"], part)
        for eye in (points[36:42].mean(0), points[42:48].mean(0)):
            assert _changed(before, after, eye) is False


@pytest.mark.realdata
def test_a_tilted_face_gets_a_tilted_mask_that_still_covers(utk_faces, tmp_path):
    face = (
        Image.open(utk_faces[3])
        .convert("RGB")
        .rotate(25, resample=Image.Resampling.BICUBIC, fillcolor=(128,) * 3)
    )
    row = landmark([write_image(tmp_path / "tilted.png", np.asarray(face))]).iloc[0]
    points = points_of(row)
    render = render_mask(np.asarray(face), points, "surgical", "white")
    assert qa_failure(render.alpha, points, "correct") is None
    mask_outline = outline(points)
    frame = face_frame(points, mask_outline, render.alpha.shape)
    assert -35 < frame.angle < -15  # PIL rotates counter-clockwise: the eye line falls to the right


@pytest.mark.realdata
def test_edges_are_antialiased_without_a_halo(landmarked):
    row = landmarked.iloc[0]
    face = load_rgb(row["path"])
    for kind in KINDS:
        render = render_mask(face, points_of(row), kind, "white", rng=np.random.default_rng(1))
        edge = (render.alpha > 0.05) & (render.alpha < 0.95)
        assert edge.sum() > 50  # soft edge pixels exist: no hard, jagged cut
        # an edge pixel mixes skin and mask: never brighter than both (MaskTheFace's light halo)
        inside = render.image[render.alpha > 0.99].max(axis=0).astype(int)
        brightest = np.maximum(face[edge].astype(int), inside)
        assert (render.image[edge].astype(int) <= brightest + 3).all(), kind


def test_cloth_patterns_are_real_patterns(rng):
    points = np.zeros((68, 2), np.float32)
    points[:17, 0] = np.linspace(20, 180, 17)  # a face 160 px wide, level
    points[:17, 1] = 100 + 60 * np.sin(np.linspace(0, np.pi, 17))
    points[17:, 0], points[17:, 1] = 100, 110
    points[36:42], points[42:48] = (70, 80), (130, 80)
    frame = face_frame(points, outline(points), (200, 200))
    for name, pattern in PATTERNS.items():
        amount = pattern(frame, np.random.default_rng(3))
        assert amount.min() >= 0 and amount.max() <= 1
        if name != "plain":
            assert 0.05 < amount.mean() < 0.7, name  # some of each colour
            assert ((amount > 0) & (amount < 1)).any(), name  # anti-aliased edges


@pytest.mark.realdata
def test_the_contact_sheet_shows_every_kind_in_every_wear(landmarked):
    config = SynthesizeConfig(sources=("utk",), fraction=1.0)
    image = sheet(landmarked, config)
    assert image.shape == (len(KINDS) * (160 + 28), len(WEARS) * 160, 3)
    for row in range(len(KINDS)):
        for col in range(len(WEARS)):
            tile = image[row * 188 : row * 188 + 160, col * 160 : (col + 1) * 160]
            assert tile.std() > 20  # a face, not a blank cell
            assert not ((tile[..., 0] > 200) & (tile[..., 1] < 60)).sum() > 300  # no red QA frame


@pytest.mark.realdata
def test_the_contact_sheet_frames_what_synthesis_would_reject_at_its_min_coverage(landmarked):
    """The sheet's QA is synthesis's own, at synthesize.min_coverage, not a default."""

    def framed(min_coverage: float) -> int:
        config = SynthesizeConfig(sources=("utk",), fraction=1.0, min_coverage=min_coverage)
        image = sheet(landmarked, config)
        tiles = [
            image[row * 188 : row * 188 + 160, col * 160 : (col + 1) * 160]
            for row in range(len(KINDS))
            for col in range(len(WEARS))
        ]
        return sum(((t[..., 0] > 200) & (t[..., 1] < 60)).sum() > 300 for t in tiles)

    assert framed(0.95) == 0 and framed(1.01) == len(KINDS) * len(WEARS)  # nothing covers 101%


def test_unknown_mask_type_or_wear_is_refused():
    from pipeline.config import parse
    from pipeline.errors import ParamsError

    for values, message in [
        ({"mask_types": ["bandana"]}, r"`synthesize.mask_types\[0\]` must be one of 'surgical'"),
        ({"wears": {"on_forehead": 1.0}}, r"`synthesize.wears.on_forehead` must be one of 'correct'"),
        ({"wears": {"correct": 0.0}}, r"`synthesize`: wears: the weights must not all be 0"),
    ]:
        with pytest.raises(ParamsError, match=message):
            parse(SynthesizeConfig, values, "synthesize")


def level_face(width: float = 160.0) -> np.ndarray:
    """68 points of a level, frontal face `width` px wide on a 200 px image."""
    points = np.zeros((68, 2), np.float32)
    left = 100 - width / 2
    points[:17, 0] = np.linspace(left, left + width, 17)
    points[:17, 1] = 100 + 0.375 * width * np.sin(np.linspace(0, np.pi, 17))
    points[17:, 0], points[17:, 1] = 100, 110
    points[36:42], points[42:48] = (100 - 0.19 * width, 80), (100 + 0.19 * width, 80)
    return points


def test_polka_dots_are_whole_discs_in_every_row():
    import cv2

    frame = face_frame(level_face(), outline(level_face()), (200, 200))
    for seed in range(5):
        rng = np.random.default_rng(seed)
        amount = PATTERNS["dots"](frame, rng)
        count, _, stats, _ = cv2.connectedComponentsWithStats((amount > 0.5).astype(np.uint8))
        whole = [
            stats[i]
            for i in range(1, count)
            if stats[i, 0] > 0
            and stats[i, 1] > 0
            and stats[i, 0] + stats[i, 2] < 200
            and stats[i, 1] + stats[i, 3] < 200
        ]
        assert len(whole) > 10
        for _, _, w, h, area in whole:
            # a disc fills pi/4 of a square box; a half disc is twice as wide as it is tall
            assert abs(w - h) <= 2 and area >= 0.6 * w * h, (seed, w, h, area)
