import numpy as np
import pytest

from pipeline.audit import BINS
from pipeline.face_points import LEFT_EYE, RIGHT_EYE
from pipeline.faces import detect_faces, landmarks_68
from pipeline.images import load_rgb
from pipeline.landmarks import LandmarksConfig, add_landmarks, inter_ocular, plausibility_error, points_of
from pipeline.manifest import new_manifest
from pipeline.skin_tone import eye_patches, skin_patches
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
    # the skin tone is measured here, once, where the points are, so evaluation groups by it too
    # (two of these twelve are a grey photo and a face with no skin-coloured patch)
    assert out["skin_tone_bin"].isin(BINS[:-1]).sum() >= 10 and out["skin_tone_bin"].isin(BINS).all()
    known = out["skin_tone_bin"] != "unknown"
    assert out.loc[known, "skin_tone_error"].isna().all() and out.loc[known, "monk_tone"].between(1, 10).all()
    assert out.loc[~known, "skin_tone_error"].notna().all()


@pytest.mark.realdata
def test_the_known_box_fit_agrees_with_the_detector_box_fit(utk_faces):
    out, _ = add_landmarks(manifest(utk_faces[:12]), LandmarksConfig(workers=1))
    assert (out["landmark_method"] == "box").sum() >= 10
    for path, (_, row) in zip(utk_faces[:12], out.iterrows(), strict=True):
        rgb = load_rgb(path)
        found = detect_faces(rgb, upsample=1, min_score=0.0)
        if not found:
            continue
        reference = landmarks_68(rgb, found[0])
        error = np.linalg.norm(points_of(row) - reference, axis=1).mean() / inter_ocular(reference)
        assert error < 0.08, (path.name, error)  # 0.08: the usual "fit succeeded" bound
        assert 0 <= row["landmark_shift"] < 0.1


@pytest.mark.realdata
def test_small_faces_are_fitted_in_their_own_pixels(utk_faces, tmp_path):
    small = write_image(tmp_path / "small.png", load_rgb(utk_faces[0])[::4, ::4].copy())  # 50x50
    out, _ = add_landmarks(manifest([small]), LandmarksConfig(workers=1, detector_upsample=0))
    assert out["landmark_error"].isna().all()
    points = points_of(out.iloc[0])
    assert points.max() < 55 and points[30, 0] == pytest.approx(25, abs=6)  # nose tip mid-face


@pytest.mark.realdata
def test_a_face_off_its_known_box_is_found_by_the_detector(utk_faces, tmp_path):
    canvas = np.full((400, 400, 3), 120, np.uint8)
    canvas[200:, :200] = load_rgb(utk_faces[1])  # bottom-left quarter; the known box is the middle
    out, _ = add_landmarks(manifest([write_image(tmp_path / "off.png", canvas)]), LandmarksConfig(workers=1))
    row = out.iloc[0]
    assert row["landmark_method"] == "detector" and row["landmark_error"] is None
    nose = points_of(row)[30]
    assert 60 < nose[0] < 140 and 260 < nose[1] < 340


@pytest.mark.realdata
def test_eye_placed_skin_patches_sit_where_the_landmark_patches_do(utk_faces):
    for path in utk_faces[:12]:
        points = points_of(add_landmarks(manifest([path]), LandmarksConfig(workers=1))[0].iloc[0])
        eyes = np.stack([points[LEFT_EYE].mean(0), points[RIGHT_EYE].mean(0)])
        distance = inter_ocular(points)
        for (by_eyes, r1), (by_points, r2) in zip(eye_patches(eyes), skin_patches(points), strict=True):
            assert np.linalg.norm(by_eyes - by_points) < 0.25 * distance
            assert abs(r1 - r2) < 0.05 * distance
        # and they turn with the face: the same eyes rotated 30 degrees about their midpoint
        turn = np.array([[np.cos(0.52), -np.sin(0.52)], [np.sin(0.52), np.cos(0.52)]])
        middle = eyes.mean(0)
        turned = eye_patches((eyes - middle) @ turn.T + middle)
        for (a, _), (b, _) in zip(turned, eye_patches(eyes), strict=True):
            assert np.allclose(a, (b - middle) @ turn.T + middle, atol=0.01)


def test_noise_and_flat_images_record_an_unstable_fit(tmp_path, rng):
    noise = write_image(tmp_path / "noise.png", rng.integers(0, 255, (80, 80, 3), dtype=np.uint8))
    flat = write_image(tmp_path / "flat.png", np.full((80, 80, 3), 128, np.uint8))
    out, rejected = add_landmarks(manifest([noise, flat]), LandmarksConfig(workers=1))
    assert rejected.empty and len(out) == 2  # kept: they can still be classified
    assert out["landmark_error"].str.startswith("unstable_fit(shift=").all()
    assert out["landmarks"].isna().all() and (out["landmark_shift"] > 0.1).all()
    assert out["eyes"].isna().all()  # the 5-point model does not agree with such eyes
    # the box placement is tried, and finds no skin in noise and no colour in grey
    assert (out["skin_tone_bin"] == "unknown").all() and (out["skin_tone_method"] == "box").all()
    assert list(out["skin_tone_error"]) == ["no_skin_coloured_patch", "no_chroma(greyscale image)"]


def test_implausible_geometry_is_named():
    points = np.zeros((68, 2), np.float32)
    points[:, 0] = np.linspace(0, 100, 68)
    points[:, 1] = 50
    assert plausibility_error(points, 100, 100) == "implausible_geometry"
