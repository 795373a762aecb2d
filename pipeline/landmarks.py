"""Landmarks: dlib's 68 points once per face, cached in the manifest for synthesis and audit,
and the skin tone those points locate (pipeline/skin_tone.py), so every later stage shares it.

Every face here is a crop whose face position is roughly known (ingest cut it from a box
plus a margin; aligned sources are centred faces), so the shape predictor runs on that
known box first. A fit is only as good as its box, so the points are fitted again on the
box the HOG detector would have drawn around them; how far they move (`landmark_shift`,
mean point movement over the inter-ocular distance) is the fit's quality. A stable fit is
kept; an unstable one gets the detector's box instead (upsampled for small faces), which
costs about ten times more. Measured on the UTKFace sample: the refitted known-box points lie
on average 1.6% of the inter-ocular distance from the detector-box fit's, and the fit runs at
110-160 faces/s on one core here (benchmarks/synthesis.py).

A fit that still fails keeps its eyes where a second model agrees with them (agreed_eyes):
on masked faces the jaw and mouth points are guesses, but the eyes are in plain sight. That
gives no mask geometry, only eye centres (`eyes`, `landmark_method` = eyes, the two models'
disagreement as `landmark_shift`), which the skin tone places its patches by.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from PIL import Image

from pipeline.config import setting
from pipeline.face_points import CHIN, EYES, LEFT_EYE, MOUTH, NOSE_TIP, RIGHT_EYE
from pipeline.faces import Box, detect_faces, eye_centres_5, landmarks_68
from pipeline.images import ImageRejected, load_rgb
from pipeline.manifest import check_conservation, reject_rows
from pipeline.parallel import parallel_map
from pipeline.skin_tone import TONE_COLUMNS, estimate, tone_columns

STAGE = "landmarks"

# Where dlib's HOG box sits against the bounds of its own 68 points (left, top, right,
# bottom, as fractions of the points' width and height), measured on the 57 UTKFace sample
# faces it detects: about as wide, and a tenth of the face higher (brows to above the chin).
DETECTOR_BOX = np.array([0.012, -0.101, -0.038, -0.099])


@dataclass(frozen=True)
class LandmarksConfig:
    box_inset: float = setting(0.08, ge=0, lt=0.5)  # the known box: the crop minus this a side
    max_shift: float = setting(0.1, gt=0)  # a fit moving more than this on refit is unstable
    # where the 68 points fail, their eyes are kept if the 5-point model's are this close
    max_eye_disagreement: float = setting(0.15, gt=0)
    upsample_to: int = setting(200, ge=1)  # faces smaller than this are upscaled for the detector
    detector_upsample: int = setting(1, ge=0, le=4)
    workers: int = setting(2, ge=1)


def _overlap(a: Box, b: Box) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union else 0.0


def inter_ocular(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[LEFT_EYE].mean(0) - points[RIGHT_EYE].mean(0)))


def detector_box(points: np.ndarray) -> Box:
    """The box dlib's HOG detector would draw around a face with these points."""
    low, high = points.min(0), points.max(0)
    size = np.maximum(high - low, 1.0)
    x0, y0 = low + DETECTOR_BOX[:2] * size
    x1, y1 = high + DETECTOR_BOX[2:] * size
    return round(x0), round(y0), round(x1), round(y1)


def stable_fit(rgb: np.ndarray, box: Box) -> tuple[np.ndarray, float]:
    """Points fitted on `box` and fitted again on the detector-like box around them: the
    refit, and how far it moved in inter-ocular distances."""
    first = landmarks_68(rgb, box)
    refit = landmarks_68(rgb, detector_box(first))
    shift = float(np.linalg.norm(refit - first, axis=1).mean()) / max(inter_ocular(refit), 1.0)
    return refit, shift


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
    eyes_y = points[EYES, 1].mean()
    if not eyes_y < points[NOSE_TIP, 1] < points[MOUTH, 1].mean() < points[CHIN, 1] + 1:
        return "implausible_geometry"
    if inter_ocular(points) < 0.15 * width:
        return f"face_too_small_in_crop(inter_ocular={inter_ocular(points):.1f}px)"
    return None


def _detector_fit(rgb: np.ndarray, known: Box, config: LandmarksConfig) -> tuple[np.ndarray, float] | None:
    """The fit on the detector's box that overlaps the known one, else on the largest face
    it finds (a crop cut loosely around its face), in `rgb` pixels."""
    height, width = rgb.shape[:2]
    scale = max(1.0, config.upsample_to / min(height, width))
    big = rgb
    if scale > 1:
        size = (round(width * scale), round(height * scale))
        big = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))
    scaled_known: Box = tuple(round(v * scale) for v in known)
    found = detect_faces(big, upsample=config.detector_upsample, min_score=0.0)  # largest first
    if not found:
        return None
    near = max(found, key=lambda b: _overlap(b, scaled_known))
    points, shift = stable_fit(big, near if _overlap(near, scaled_known) > 0.3 else found[0])
    return points / scale, shift


def known_box(width: int, height: int, inset: float) -> Box:
    """Where the face is in its crop before anything is fitted: the crop minus `inset` a side."""
    return (
        round(width * inset),
        round(height * inset),
        round(width * (1 - inset)),
        round(height * (1 - inset)),
    )


def face_landmarks(path: str, config: LandmarksConfig) -> dict:
    """Landmark columns for one face image (points in that image's own pixels)."""
    try:
        rgb = load_rgb(path)
    except ImageRejected as exc:  # the file changed since filter read it: not a face any more
        return {"reason": exc.reason, "detail": exc.detail}
    height, width = rgb.shape[:2]
    known = known_box(width, height, config.box_inset)
    points, shift = stable_fit(rgb, known)
    method = "box"
    error = plausibility_error(points, width, height)
    if error or shift > config.max_shift:
        found = _detector_fit(rgb, known, config)
        if found is not None and (found[1] < shift or error):
            points, shift = found
            method = "detector"
            error = plausibility_error(points, width, height)
    if error is None and shift > config.max_shift:
        error = f"unstable_fit(shift={shift:.3f})"
    columns = {"landmark_method": method, "landmark_shift": shift, "landmark_error": error}
    if not error:
        return columns | {"landmarks": points.ravel().tolist()} | tone_columns(estimate(rgb, points))
    eyes = agreed_eyes(rgb, points, known, config)
    if eyes is not None:
        # the lower face is not known (synthesis still skips the row by landmark_error), the eyes are
        at, disagreement = eyes
        columns |= {"landmark_method": "eyes", "landmark_shift": disagreement, "eyes": at.ravel().tolist()}
        return columns | tone_columns(estimate(rgb, None, eyes=at))
    # nothing to place the skin patches by: they go where they sit on average in the box
    return columns | tone_columns(estimate(rgb, None, box=known))


def agreed_eyes(
    rgb: np.ndarray, points: np.ndarray, known: Box, config: LandmarksConfig
) -> tuple[np.ndarray, float] | None:
    """Where a 68-point fit failed as a whole (on masked faces the mask moves its jaw and
    mouth points, and the fit is unstable), its eyes may still be right: they are kept when
    dlib's separate 5-point model, fitted in the known box, puts both eye centres within
    `max_eye_disagreement` inter-ocular distances of them, and they are plausible eyes in the
    crop. Returns (the two models' mean eye centres, image left first; their disagreement)."""
    height, width = rgb.shape[:2]
    from_68 = np.stack([points[LEFT_EYE].mean(0), points[RIGHT_EYE].mean(0)])
    from_68 = from_68[np.argsort(from_68[:, 0])]
    from_5 = eye_centres_5(rgb, known)
    distance = float(np.linalg.norm(from_68[1] - from_68[0]))
    if distance < 0.15 * width:
        return None
    disagreement = float(np.linalg.norm(from_5 - from_68, axis=1).max()) / distance
    eyes = (from_68 + from_5) / 2
    inside = ((eyes >= 0) & (eyes < (width, height))).all()
    level = abs(eyes[1, 1] - eyes[0, 1]) < 0.5 * (eyes[1, 0] - eyes[0, 0])  # turned under ~27 degrees
    if disagreement > config.max_eye_disagreement or not inside or not level:
        return None
    return eyes, disagreement


def add_landmarks(df: pd.DataFrame, config: LandmarksConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every readable row kept, with landmark columns; a failed fit is recorded on the row
    (it can still be classified, only not masked). Only a file that no longer decodes is
    rejected, with the decoder's reason."""
    df = df.reset_index(drop=True)
    work = partial(face_landmarks, config=config)
    results = list(parallel_map(work, list(df["path"]), workers=config.workers, desc="landmarks"))
    unreadable = np.array(["reason" in r for r in results], dtype=bool)
    out = df[~unreadable].copy()
    for column in ("landmarks", "eyes", "landmark_method", "landmark_shift", "landmark_error", *TONE_COLUMNS):
        out[column] = [r.get(column) for r, bad in zip(results, unreadable, strict=True) if not bad]
    failed = [r for r, bad in zip(results, unreadable, strict=True) if bad]
    reasons, details = [r["reason"] for r in failed], [r["detail"] for r in failed]
    rejected = reject_rows(df[unreadable], STAGE, reasons, details)
    check_conservation(STAGE, df["id"], out["id"], rejected["id"])
    return out, rejected


def points_of(row: pd.Series) -> np.ndarray | None:
    """The (68, 2) landmark array of a manifest row, or None when the fit failed."""
    value = row["landmarks"]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return np.asarray(value, dtype=np.float32).reshape(68, 2)
