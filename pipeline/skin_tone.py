"""Skin tone without a model: Individual Typology Angle and the Monk scale from skin pixels.

ITA = atan((L* - 50) / b*) in degrees, from CIELAB pixels of three landmark-placed patches:
the forehead and the upper cheeks just under the eyes, on masked and unmasked faces alike
(a correctly worn mask leaves them bare), so one face is measured on the same skin either
way. Only pixels that can be skin count (a*, b* > 0: not a mask edge, not most hair). Each
patch gives its own ITA from its median L* and b*, and the face's ITA is the median of the
patches', so one patch on a fringe, a beard or a highlight cannot move it. A face with no
usable skin gets `unknown` and a reason, never a guess; greyscale photos have no b* and are
exactly such faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.color import rgb2lab

from pipeline.face_points import (
    BROWS,
    JAW_LEFT_END,
    JAW_NEAR_LEFT_END,
    JAW_NEAR_RIGHT_END,
    JAW_RIGHT_END,
    LEFT_EYE_LOWER,
    NOSE_TIP,
    RIGHT_EYE_LOWER,
)

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


def skin_patches(points: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """(centre, radius) of each skin patch: the forehead and the upper cheeks, which a
    correctly worn mask leaves bare, so masked and unmasked faces are measured alike."""
    width = float(np.linalg.norm(points[JAW_RIGHT_END] - points[JAW_LEFT_END]))
    radius = max(2.0, 0.07 * width)
    brows = points[BROWS].mean(0)
    patches = [
        brows + (brows - points[NOSE_TIP]) * 0.35,  # forehead
        # under each eye, a quarter of the way toward the jaw
        points[LEFT_EYE_LOWER] + (points[JAW_NEAR_LEFT_END] - points[LEFT_EYE_LOWER]) * 0.25,
        points[RIGHT_EYE_LOWER] + (points[JAW_NEAR_RIGHT_END] - points[RIGHT_EYE_LOWER]) * 0.25,
    ]
    return [(centre, radius) for centre in patches]


def estimate(rgb: np.ndarray, points: np.ndarray | None, min_pixels: int = 30) -> SkinTone:
    if points is None:
        return SkinTone(None, "unknown", None, "no_landmarks")
    labs = []
    for centre, radius in skin_patches(points):
        pixels = rgb[_disc(rgb.shape[:2], centre, radius)]
        lab = rgb2lab(pixels.reshape(-1, 1, 3) / 255.0).reshape(-1, 3)
        labs.append(lab[(lab[:, 0] > 15) & (lab[:, 0] < 95)])  # no deep shadow or highlight
    pooled = np.concatenate(labs)
    if len(pooled) < min_pixels:
        return SkinTone(None, "unknown", None, f"too_few_skin_pixels({len(pooled)})")
    if np.median(np.hypot(pooled[:, 1], pooled[:, 2])) < 3.0:
        return SkinTone(None, "unknown", None, "no_chroma(greyscale image)")
    # only pixels that can be skin (reddish and yellowish: a* > 0, b* > 3) count: not the
    # white, grey, blue or black of a mask edge reaching into a patch, nor most hair
    labs = [lab[(lab[:, 1] > 0) & (lab[:, 2] > 3)] for lab in labs]
    usable = [lab for lab in labs if len(lab) >= min_pixels // 3]
    if not usable:
        return SkinTone(None, "unknown", None, "no_skin_coloured_patch")
    itas = [
        float(np.degrees(np.arctan2(np.median(lab[:, 0]) - 50.0, np.median(lab[:, 2])))) for lab in usable
    ]
    ita = float(np.median(itas))
    median = np.median(np.concatenate(usable), axis=0)
    monk = int(np.argmin(np.linalg.norm(MONK_LAB - median, axis=1))) + 1
    return SkinTone(ita, ita_bin(ita), monk)


# the manifest columns a tone fills (pipeline/manifest.py), set once per face by the
# landmarks stage so that evaluation, inspection and the audit all group by the same values
TONE_COLUMNS = ("skin_tone_ita", "skin_tone_bin", "monk_tone", "skin_tone_error")


def tone_columns(tone: SkinTone) -> dict:
    return dict(zip(TONE_COLUMNS, (tone.ita, tone.bin, tone.monk, tone.error), strict=True))
