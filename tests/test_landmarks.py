import numpy as np
import pytest

from pipeline.images import load_rgb
from pipeline.landmarks import LandmarksConfig, add_landmarks, plausibility_error, points_of
from pipeline.manifest import new_manifest
from tests.conftest import write_image


def manifest(paths):
    return new_manifest(
        {
            "id": f"r{i}",
            "source": "s",
            "origin": str(p),
            "path": str(p),
            "label": "no_mask",
            "group": f"g{i}",
            "synthetic": False,
        }
        for i, p in enumerate(paths)
    )


@pytest.mark.realdata
def test_dlib_places_68_plausible_points_on_real_faces(utk_faces):
    out, rejected = add_landmarks(manifest(utk_faces[:12]), LandmarksConfig(workers=2))
    assert rejected.empty and len(out) == 12
    assert out["landmark_error"].isna().all()
    for _, row in out.iterrows():
        points = points_of(row)
        assert points.shape == (68, 2)
        # eyes above the nose tip above the mouth; jaw points may run a little past a tight crop
        assert points[36:48, 1].mean() < points[30, 1] < points[48:68, 1].mean()
        assert (points >= -20).all() and (points <= 220).all()


@pytest.mark.realdata
def test_small_faces_are_upsampled_and_fall_back_to_the_known_box(utk_faces, tmp_path):
    small = write_image(tmp_path / "small.png", load_rgb(utk_faces[0])[::4, ::4].copy())  # 50x50
    out, _ = add_landmarks(manifest([small]), LandmarksConfig(workers=1, detector_upsample=0))
    assert out["landmark_error"].isna().all()
    points = points_of(out.iloc[0])
    assert points.max() < 55  # back in the 50x50 face's own pixels


def test_a_face_without_a_face_records_why(tmp_path, rng):
    noise = write_image(tmp_path / "noise.png", rng.integers(0, 255, (80, 80, 3), dtype=np.uint8))
    out, rejected = add_landmarks(manifest([noise]), LandmarksConfig(workers=1))
    assert rejected.empty and len(out) == 1  # kept: it can still be classified
    row = out.iloc[0]
    if row["landmark_error"] is None:  # a fit on noise must at least look like a face
        assert plausibility_error(points_of(row), 80, 80) is None
    else:
        assert points_of(row) is None


def test_implausible_geometry_is_named():
    points = np.zeros((68, 2), np.float32)
    points[:, 0] = np.linspace(0, 100, 68)
    points[:, 1] = 50
    assert plausibility_error(points, 100, 100) == "implausible_geometry"
