"""Mask outlines from 68 landmarks, for correct and incorrect wear, and the QA that checks them.

A mask stands a little proud of the face, so its sides and bottom follow the jaw pushed
outward from the face centre. Its top edge is a curve between two jaw points through a
target on the face's midline; how a mask is (mis)worn is only where that curve runs: over
the nose bridge (correct), under the nostrils (nose exposed), under the lower lip (on the
chin). A mask pulled up off the chin instead gets a bottom curve above the chin. Every
point comes from the landmarks, so tilt and yaw move the outline with the face.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.face_points import (
    CHIN,
    EYES,
    JAW,
    JAW_LEFT_END,
    JAW_RIGHT_END,
    LEFT_EYE,
    MOUTH,
    NOSE_TIP,
    NOSTRILS,
    RIGHT_EYE,
)

NOSE = np.r_[NOSE_TIP, np.arange(NOSTRILS.start, NOSTRILS.stop)]  # tip and nostrils
MOUTH_POINTS = np.arange(MOUTH.start, MOUTH.stop)
EYE_POINTS = np.arange(EYES.start, EYES.stop)
# Three points QA adds on the lower chin, two thirds of the way from the lower lip (56-58)
# down to the chin (7-9): a crop often cuts the chin points off, these usually survive.
LOWER_CHIN = np.array([68, 69, 70])
CHIN_POINTS = np.r_[7, CHIN, 9, LOWER_CHIN]


def with_lower_chin(points: np.ndarray) -> np.ndarray:
    """The 68 points plus LOWER_CHIN."""
    lip, chin = points[[58, 57, 56]], points[[7, CHIN, 9]]
    return np.vstack([points, lip + (chin - lip) * 0.67])


def _between(a: int, b: int, t: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda p: p[a] + t * (p[b] - p[a])


@dataclass(frozen=True)
class Wear:
    """Where the edges run, and which face parts must end up covered and exposed."""

    top_jaw: int  # the top edge meets the jaw at points top_jaw and 16 - top_jaw
    top: Callable[[np.ndarray], np.ndarray]  # the midline point the top edge passes through
    covers: np.ndarray
    exposes: np.ndarray
    bottom_jaw: int | None = None  # a bottom curve between these jaw points, else the jaw
    bottom: Callable[[np.ndarray], np.ndarray] | None = None


# A correctly worn mask rests on the middle of the nose bridge and meets the jaw below the
# cheekbones (jaw points 2 and 14), so its top edge runs well under the lower eyelids: a top
# edge from points 1 and 15 through the upper bridge sat on the eyelids of tight crops.
_BRIDGE = _between(28, 29, 0.6)
WEAR_GEOMETRY: dict[str, Wear] = {
    "correct": Wear(2, _BRIDGE, np.r_[NOSE, MOUTH_POINTS, CHIN_POINTS], EYE_POINTS),
    "nose_exposed": Wear(3, _between(33, 51, 0.5), np.r_[MOUTH_POINTS, CHIN_POINTS], np.r_[NOSE, EYE_POINTS]),
    "nose_mouth_exposed": Wear(
        5, _between(57, CHIN, 0.4), CHIN_POINTS, np.r_[NOSE, MOUTH_POINTS, EYE_POINTS]
    ),
    "chin_exposed": Wear(
        2, _BRIDGE, np.r_[NOSE, MOUTH_POINTS], np.r_[CHIN, EYE_POINTS], 5, _between(57, CHIN, 0.55)
    ),
}


@dataclass(frozen=True)
class MaskOutline:
    """The outline polygon plus the chains kinds draw their details along."""

    polygon: np.ndarray  # (n, 2) closed outline, image pixels
    left: np.ndarray  # (k, 2) left edge, from the top corner down to the bottom centre
    right: np.ndarray  # (k, 2) right edge, same direction
    top: np.ndarray  # (m, 2) upper edge, left corner -> midline -> right corner
    bottom: np.ndarray  # (j, 2) lower edge, left -> right
    jaw: np.ndarray  # (17, 2) the jaw pushed out by the puff: where loops run back to the ears
    top_jaw: int  # the top corners sit on jaw[top_jaw] and jaw[16 - top_jaw]


def curve_through(p0: np.ndarray, mid: np.ndarray, p2: np.ndarray, n: int = 15) -> np.ndarray:
    """Points on the quadratic Bezier from p0 to p2 that passes through `mid` halfway."""
    control = 2 * mid - (p0 + p2) / 2
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * control + t**2 * p2


def _resample(chain: np.ndarray, n: int) -> np.ndarray:
    """n points evenly spaced along a polyline, so both sides have matching stations."""
    steps = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(chain, axis=0), axis=1))]
    at = np.linspace(0.0, steps[-1], n)
    return np.stack([np.interp(at, steps, chain[:, k]) for k in (0, 1)], axis=1)


def face_width(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[JAW_RIGHT_END] - points[JAW_LEFT_END]))


def outline(points: np.ndarray, wear: str = "correct", puff: float = 0.06) -> MaskOutline:
    """The outline of a mask worn as `wear`, `puff` of the face width beyond the skin."""
    spec = WEAR_GEOMETRY[wear]
    jaw = points[JAW]
    centre = np.vstack([points[NOSTRILS], points[MOUTH]]).mean(0)
    direction = jaw - centre
    pushed = jaw + direction / np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-6) * (
        puff * face_width(points)
    )
    a = spec.top_jaw
    top = curve_through(pushed[a], spec.top(points), pushed[16 - a])
    if spec.bottom is None or spec.bottom_jaw is None:
        bottom = pushed[a : 17 - a]
    else:
        b = spec.bottom_jaw
        middle = curve_through(pushed[b], spec.bottom(points), pushed[16 - b], n=9)
        bottom = np.vstack([pushed[a:b], middle, pushed[17 - b : 17 - a]])
    half = len(bottom) // 2
    stations = 12
    left = _resample(bottom[: half + 1], stations)
    right = _resample(bottom[half:][::-1], stations)
    polygon = np.vstack([bottom, top[::-1][1:-1]])
    return MaskOutline(polygon=polygon, left=left, right=right, top=top, bottom=bottom, jaw=pushed, top_jaw=a)


def tilt_degrees(points: np.ndarray) -> float:
    """Roll of the face: the angle of the line between the eye centres."""
    left, right = points[LEFT_EYE].mean(0), points[RIGHT_EYE].mean(0)
    return float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))


def _under(alpha: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Alpha at each point inside the image; NaN where the crop cut the point off."""
    h, w = alpha.shape
    xy = np.round(points).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    out = np.full(len(points), np.nan)
    out[inside] = alpha[xy[inside, 1], xy[inside, 0]]
    return out


def qa_failure(
    alpha: np.ndarray, points: np.ndarray, wear: str, min_share: float = 0.95
) -> tuple[str, str] | None:
    """(reason, detail) when a render is not what its label says, else None: the parts the
    wear covers must be under the mask, the parts it exposes must not, and the mask must
    exist and stay within the face outline plus a margin. Points a tight crop cut off
    cannot be judged and are left out; a render with none left to judge fails."""
    spec = WEAR_GEOMETRY[wear]
    judged_points = with_lower_chin(points)
    h, w = alpha.shape
    if alpha.sum() < 0.01 * h * w:
        return "qa_empty_mask", f"mask covers {alpha.sum() / (h * w):.3f} of the face image"
    for reason, index, want in (("qa_coverage", spec.covers, True), ("qa_exposed", spec.exposes, False)):
        values = _under(alpha, judged_points[index])
        judged = values[~np.isnan(values)]
        if not len(judged):
            return reason, "no point to judge inside the crop"
        share = float(((judged >= 0.5) == want).mean())
        if share < min_share:
            what = "covered" if want else "exposed"
            return reason, f"{wear}: {share:.2f} of {len(judged)} points {what} < {min_share}"
    face = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(face, np.round(cv2.convexHull(points)).astype(np.int32), 1)
    beyond = cv2.distanceTransform(1 - face, cv2.DIST_L2, 3) > 0.15 * face_width(points)
    outside = float(alpha[beyond].sum() / alpha.sum())
    if outside > 0.01:
        return "qa_outside_face", f"{outside:.2f} of the mask lies beyond the face outline + margin"
    return None
