import numpy as np
import pytest

from pipeline.images import load_rgb
from pipeline.landmarks import LandmarksConfig, add_landmarks, points_of
from pipeline.manifest import new_manifest
from pipeline.masks.render import coverage, render_mask
from pipeline.synthesize import SynthesizeConfig, synthesize


@pytest.fixture
def landmarked(utk_faces):
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
        for i, p in enumerate(utk_faces[:10])
    )
    out, _ = add_landmarks(df, LandmarksConfig(workers=2))
    return out


@pytest.mark.realdata
def test_every_selected_face_gets_a_masked_child_sharing_its_group(landmarked, tmp_path):
    config = SynthesizeConfig(sources=("utk",), fraction=1.0, workers=1)
    out, rejected = synthesize(landmarked, config, tmp_path / "faces", tmp_path)
    children = out[out["synthetic"]]
    assert len(children) + len(rejected) == 10 and len(out) == 10 + len(children)
    assert len(children) >= 9
    parents = out.set_index("id")
    for _, child in children.iterrows():
        assert child["label"] == "mask" and child["wear"] == "correct"
        assert child["group"] == parents.at[child["parent_id"], "group"]
        assert child["mask_type"] == "surgical" and child["mask_color"] in config.colors
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
    a, _ = synthesize(landmarked, config, tmp_path / "a", tmp_path)
    b, _ = synthesize(landmarked.iloc[::-1], config, tmp_path / "b", tmp_path)
    assert sorted(a["id"]) == sorted(b["id"])
    assert sorted(a["sha256"].dropna()) == sorted(b["sha256"].dropna())
    # a face's fate does not depend on what else is in the set
    c, _ = synthesize(landmarked.iloc[:5], config, tmp_path / "c", tmp_path)
    assert set(c.loc[c["synthetic"], "parent_id"]) == set(
        a.loc[a["synthetic"] & a["parent_id"].isin(landmarked["id"].iloc[:5]), "parent_id"]
    )


@pytest.mark.realdata
def test_faces_without_landmarks_are_rejected_not_skipped(landmarked, tmp_path):
    broken = landmarked.copy()
    broken["landmarks"] = None
    broken["landmark_error"] = "implausible_geometry"
    out, rejected = synthesize(
        broken, SynthesizeConfig(sources=("utk",), fraction=1.0, workers=1), tmp_path, tmp_path
    )
    assert len(out) == 10 and len(rejected) == 10
    assert set(rejected["reason"]) == {"no_landmarks"}
    assert rejected["detail"].str.contains("implausible_geometry").all()


@pytest.mark.realdata
def test_mask_edge_is_antialiased_and_covers_nose_and_mouth(landmarked):
    row = landmarked.iloc[0]
    render = render_mask(load_rgb(row["path"]), points_of(row), "surgical", "white")
    share, checked = coverage(render.alpha, points_of(row))
    assert share == 1.0 and checked >= 20
    edge = (render.alpha > 0.05) & (render.alpha < 0.95)
    assert edge.sum() > 50  # soft edge pixels exist: no hard, jagged cut


def test_unknown_mask_type_is_refused():
    with pytest.raises(ValueError, match="mask_types"):
        SynthesizeConfig(mask_types=("bandana",))
