"""Skin tone without a model: Individual Typology Angle and the Monk scale from skin pixels.

ITA = atan((L* - 50) / b*) in degrees, over CIELAB pixels of landmark-placed patches (both
cheeks and the forehead; only the forehead on masked faces, whose cheeks are cloth). Medians
make it robust to shadows and highlights. A face with no usable skin gets `unknown` and a
reason, never a guess; greyscale photos have no b* and are exactly such faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.color import rgb2lab

# ITA bins (degrees), lower bound inclusive, from the dermatology literature (Chardon 1991).
ITA_BINS: tuple[tuple[str, float], ...] = (
    ("very_light", 55.0),
    ("light", 41.0),
    ("intermediate", 28.0),
    ("tan", 10.0),
    ("brown", -30.0),
    ("dark", -float("inf")),
)
# The 10 Monk Skin Tone swatches (sRGB), lightest to darkest.
MONK_HEX = (
    "f6ede4",
    "f3e7db",
    "f7ead0",
    "eadaba",
    "d7bd96",
    "a07e56",
    "825c43",
    "604134",
    "3a312a",
    "292420",
)
MONK_LAB = rgb2lab(np.array([[[int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)] for h in MONK_HEX]]))[0]


@dataclass(frozen=True)
class SkinTone:
    ita: float | None
    bin: str
    monk: int | None
    error: str | None = None


def ita_bin(ita: float) -> str:
    return next(name for name, lower in ITA_BINS if ita >= lower)


def _disc(shape: tuple[int, int], centre: np.ndarray, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2


def skin_regions(points: np.ndarray, shape: tuple[int, int], masked: bool) -> np.ndarray:
    """Boolean mask of the skin patches: forehead, plus the cheeks when the face is unmasked."""
    width = float(np.linalg.norm(points[16] - points[0]))
    radius = max(2.0, 0.08 * width)
    brows = points[17:27].mean(0)
    forehead = brows + (brows - points[30]) * 0.35
    region = _disc(shape, forehead, radius)
    if not masked:
        left = (points[41] + points[31] + points[2]) / 3
        right = (points[46] + points[35] + points[14]) / 3
        region |= _disc(shape, left, radius) | _disc(shape, right, radius)
    return region


def estimate(rgb: np.ndarray, points: np.ndarray | None, masked: bool, min_pixels: int = 30) -> SkinTone:
    if points is None:
        return SkinTone(None, "unknown", None, "no_landmarks")
    region = skin_regions(points, rgb.shape[:2], masked)
    lab = rgb2lab(rgb[region].reshape(-1, 1, 3) / 255.0).reshape(-1, 3)
    lab = lab[(lab[:, 0] > 15) & (lab[:, 0] < 95)]  # drop deep shadow and specular highlight
    if len(lab) < min_pixels:
        return SkinTone(None, "unknown", None, f"too_few_skin_pixels({len(lab)})")
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    if np.median(chroma) < 3.0:
        return SkinTone(None, "unknown", None, "no_chroma(greyscale image)")
    lightness, b = float(np.median(lab[:, 0])), float(np.median(lab[:, 2]))
    ita = float(np.degrees(np.arctan2(lightness - 50.0, b)))
    median = np.median(lab, axis=0)
    monk = int(np.argmin(np.linalg.norm(MONK_LAB - median, axis=1))) + 1
    return SkinTone(ita, ita_bin(ita), monk)
