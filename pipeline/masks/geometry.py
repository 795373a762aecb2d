"""Mask geometry from 68 landmarks: one path shared by every mask kind.

A correctly worn mask runs over the nose bridge, out to the jaw at the cheekbones and down
under the chin; it stands a little proud of the face, so the outline is pushed outward from
the face centre rather than traced on the skin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.landmarks import CHIN, JAW, MOUTH, NOSE_TIP, NOSTRILS


@dataclass(frozen=True)
class MaskOutline:
    """The outline polygon plus the two side chains (top-to-bottom) kinds draw details along."""

    polygon: np.ndarray  # (n, 2) closed outline, image pixels
    left: np.ndarray  # (k, 2) left edge, from the top corner down toward the chin
    right: np.ndarray  # (k, 2) right edge, same direction
    top: np.ndarray  # (m, 2) upper edge, left corner -> nose bridge -> right corner


def _quadratic(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 12) -> np.ndarray:
    """Points on the quadratic Bezier curve through p0 and p2, pulled toward p1."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def correct_wear_outline(points: np.ndarray, puff: float = 0.06) -> MaskOutline:
    """Outline of a correctly worn mask: top over the upper nose bridge (point 28), sides at
    jaw points 1 and 15, bottom along the jaw, `puff` of the face width beyond the skin."""
    jaw = points[JAW]
    centre = np.vstack([points[NOSTRILS], points[MOUTH]]).mean(0)
    width = np.linalg.norm(jaw[16] - jaw[0])
    direction = jaw - centre
    norms = np.linalg.norm(direction, axis=1, keepdims=True)
    pushed = jaw + direction / np.maximum(norms, 1e-6) * puff * width
    lower = pushed[1:16]  # left cheek -> chin -> right cheek
    bridge = points[28] + (points[28] - points[NOSE_TIP]) * 0.15
    top = _quadratic(lower[-1], bridge, lower[0])[::-1]  # left corner -> right corner
    polygon = np.vstack([lower, top[::-1][1:-1]])
    chin_index = CHIN - 1
    return MaskOutline(
        polygon=polygon,
        left=lower[: chin_index + 1],
        right=lower[chin_index:][::-1],
        top=top,
    )


def tilt_degrees(points: np.ndarray) -> float:
    """Roll of the face: the angle of the line between the eye centres."""
    left, right = points[36:42].mean(0), points[42:48].mean(0)
    return float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))


# The points a correctly worn mask must hide: nose tip, nostrils, mouth, chin.
COVERED_POINTS = np.r_[NOSE_TIP, np.arange(31, 36), np.arange(48, 68), CHIN]
