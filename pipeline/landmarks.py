"""Landmarks: dlib's 68 points once per face, cached in the manifest for synthesis and audit.

The HOG detector misses many small or tilted faces, yet each crop's face position is roughly
known (the crop is the face plus a margin), so when detection fails the shape predictor runs
on that known box instead, and the row records which path it took.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from PIL import Image

from pipeline.faces import Box, detect_faces, landmarks_68
from pipeline.images import ImageRejected, load_rgb
from pipeline.manifest import check_conservation, new_rejected
from pipeline.parallel import parallel_map

STAGE = "landmarks"

# iBUG 68-point indices the rest of the code names
JAW = slice(0, 17)
NOSE_BRIDGE = slice(27, 31)
NOSE_TIP = 30
NOSTRILS = slice(31, 36)
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
MOUTH = slice(48, 68)
CHIN = 8


@dataclass(frozen=True)
class LandmarksConfig:
    upsample_to: int = 200
    detector_upsample: int = 1
    fallback_inset: float = 0.08  # the known box: the crop minus this fraction on every side
    workers: int = 2


def _overlap(a: Box, b: Box) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union else 0.0


def plausibility_error(points: np.ndarray, width: int, height: int) -> str | None:
    """Why a 68-point fit is not a face, or None. Catches fits on a wrong box: eyes below
    the mouth, points far outside the crop, a face a fraction of the crop's size."""
    xs, ys = points[:, 0], points[:, 1]
    if (
        (xs < -0.25 * width).any()
        or (xs > 1.25 * width).any()
        or (ys < -0.25 * height).any()
        or (ys > 1.25 * height).any()
    ):
        return "points_outside_crop"
    eyes_y = points[36:48, 1].mean()
    if not eyes_y < points[NOSE_TIP, 1] < points[MOUTH, 1].mean() < points[CHIN, 1] + 1:
        return "implausible_geometry"
    inter_ocular = np.linalg.norm(points[LEFT_EYE].mean(0) - points[RIGHT_EYE].mean(0))
    if inter_ocular < 0.15 * width:
        return f"face_too_small_in_crop(inter_ocular={inter_ocular:.1f}px)"
    return None


def face_landmarks(path: str, config: LandmarksConfig) -> dict:
    """Landmark columns for one face image (points in that image's own pixels)."""
    try:
        rgb = load_rgb(path)
    except ImageRejected as exc:
        return {"landmark_error": f"{exc.reason}: {exc.detail}"}
    height, width = rgb.shape[:2]
    scale = max(1.0, config.upsample_to / min(height, width))
    if scale > 1:
        size = (round(width * scale), round(height * scale))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))
    h, w = rgb.shape[:2]
    inset = config.fallback_inset
    known: Box = (
        round(w * inset),
        round(h * inset),
        round(w * (1 - inset)),
        round(h * (1 - inset)),
    )
    found = detect_faces(rgb, upsample=config.detector_upsample, min_score=0.0)
    best = max(found, key=lambda b: _overlap(b, known), default=None)
    if best is not None and _overlap(best, known) > 0.3:
        box, method = best, "detector"
    else:
        box, method = known, "box"
    points = landmarks_68(rgb, box) / scale
    error = plausibility_error(points, width, height)
    if error:
        return {"landmark_method": method, "landmark_error": error}
    return {"landmarks": points.ravel().tolist(), "landmark_method": method, "landmark_error": None}


def add_landmarks(df: pd.DataFrame, config: LandmarksConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every row kept, with landmark columns; a failed fit is recorded on the row (it can
    still be classified, only not masked), so this stage rejects nothing."""
    df = df.reset_index(drop=True)
    work = partial(face_landmarks, config=config)
    results = list(parallel_map(work, list(df["path"]), workers=config.workers, desc="landmarks"))
    out = df.copy()
    for column in ("landmarks", "landmark_method", "landmark_error"):
        out[column] = [r.get(column) for r in results]
    rejected = new_rejected()
    check_conservation(STAGE, df["id"], out["id"], rejected["id"])
    return out, rejected


def points_of(row: pd.Series) -> np.ndarray | None:
    """The (68, 2) landmark array of a manifest row, or None when the fit failed."""
    value = row["landmarks"]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return np.asarray(value, dtype=np.float32).reshape(68, 2)
