"""Skin tone without a model: Individual Typology Angle and the Monk scale from skin pixels.

ITA = atan((L* - 50) / b*) in degrees, from CIELAB pixels of three landmark-placed patches:
the forehead and the upper cheeks just under the eyes, on masked and unmasked faces alike
(a correctly worn mask leaves them bare), so one face is measured on the same skin either
way. Only pixels that can be skin count (a*, b* > 0: not a mask edge, not most hair), and
of those the lit ones (DARKEST_LEFT_OUT: brown hair and shade share skin's colour, not its
lightness). Each patch gives its own ITA from their median L* and b*, and the face's ITA is
the median of the patches', so one patch on a fringe, a beard or a highlight cannot move it.
A face with no usable skin gets `unknown` and a reason, never a guess; greyscale photos have
no b* and are exactly such faces.

Where the 68 points do not fit (on real sets many masked, small or turned faces), one wider
patch is used: BOX_REGION of the crop's known face box, from above the brows to the upper
cheeks, which holds the three patches however tightly a source crops its faces (they sit
lower in real-masked-dev's tight crops than in UTKFace's). Since it may take in hair or
background, at least MIN_SKIN_SHARE of it must be skin-coloured. Where the 68 points fail
but two models agree on the eyes (pipeline/landmarks.py), the three patches are placed from
the eye centres instead (EYE_PATCHES), which follows a face off-centre in its crop as the
box cannot. `skin_tone_method` says which placement a tone came from.

ITA is a colorimetric measure and photos are not calibrated: a light face in shadow reads
darker. benchmarks/skin_tone.py measures how far that goes against utkface-600's race
annotations; checks on the patches' disagreement or darkness did not separate shadowed faces
from dark-skinned ones there (a darkness cut removed mostly Black faces), so none is applied,
and the audit calls the tone an estimate.
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


# The patch in the known face box when no landmarks fit: (left, top, right, bottom) as
# fractions of the box. Of the regions tried on faces whose points do fit, it gave the
# landmarks' bin, or the next one, most often: for 92% of utkface-600's faces, 97% of the VOC
# sample's and 85% of real-masked-dev's (benchmarks/skin_tone.py).
BOX_REGION = (0.2, -0.05, 0.8, 0.45)
# Of the box region's pixels, this share must be skin-coloured. On faces whose points fit,
# the box tone agrees with the landmarks' (same bin or the next) as often for regions 30-40%
# skin-coloured as for those over 40% (89% against 86-92%, benchmarks/skin_tone.py); under
# 30% it agrees less (80%). Masked tight crops sit in that band: the mask and a fringe fill
# the rest of the region.
MIN_SKIN_SHARE = 0.3
# The darkest quarter of each patch's skin-coloured pixels is left out: brown hair, brows,
# lashes and shade have skin's a* and b* but lower L*, and in the box region they read a
# light face under a fringe as `dark` (of 72 masked real-masked-dev faces binned dark by the
# box, nearly all were light faces). Measured on utkface-600 it leaves the race groups'
# ITA AUC as it was (0.767 White vs Black) and moves every face lighter by about 6 degrees.
DARKEST_LEFT_OUT = 25  # percent

# A photo is greyscale when 95% of its pixels have their three channels within GREY_SPREAD
# levels of each other. Over the shared samples' 2,704 faces, the 95th percentile of that
# spread is 10 or more on every colour photo (median 70), and under 10 on 20 of the 27 that
# benchmarks/skin_tone.py counts as grey (JPEG chroma noise included; the other 7 hold a
# tinted part, and their patches decide). A grey studio wall behind a colour face does not
# make the photo grey, as a test of the patches alone did (it called 32 colour photos of
# real-masked-dev greyscale).
GREY_SPREAD = 10
GREY_SAMPLE = 65_536  # pixels looked at, evenly spaced: the test costs the same on any size

# The three patches where only the eye centres are known (pipeline/landmarks.py's `eyes`
# fallback), in the eyes' own frame: x along the line from the image-left eye to the other,
# y square to it, down the face, both in inter-ocular distances from the eyes' midpoint. They
# are where skin_patches puts them: the medians over 296 utkface-600 faces of the landmark
# patches expressed in that frame (forehead (0, -0.62), cheeks (+-0.72, 0.10), radius 0.157).
EYE_PATCHES = ((0.0, -0.62), (-0.72, 0.10), (0.72, 0.10))
EYE_PATCH_RADIUS = 0.157


@dataclass(frozen=True)
class SkinTone:
    ita: float | None
    bin: str
    monk: int | None
    error: str | None = None
    method: str | None = None  # landmarks | eyes | box: where the patches were placed


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


def eye_patches(eyes: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """(centre, radius) of the three skin patches placed from the two eye centres alone."""
    left, right = eyes[np.argsort(eyes[:, 0])]
    across = right - left
    distance = max(float(np.linalg.norm(across)), 1.0)
    x = across / distance
    y = np.array([-x[1], x[0]])  # x turned a quarter clockwise: down the face
    middle = (left + right) / 2
    radius = max(2.0, EYE_PATCH_RADIUS * distance)
    return [(middle + (dx * x + dy * y) * distance, radius) for dx, dy in EYE_PATCHES]


def box_region(shape: tuple[int, ...], box: tuple[float, float, float, float]) -> np.ndarray:
    """The boolean mask of BOX_REGION of a (left, top, right, bottom) face box in an image of
    `shape`."""
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    x0, y0, x1, y1 = BOX_REGION
    inside = np.zeros(shape[:2], dtype=bool)
    rows = slice(max(0, round(top + y0 * height)), max(0, round(top + y1 * height)))
    inside[rows, max(0, round(left + x0 * width)) : max(0, round(left + x1 * width))] = True
    return inside


def greyscale(rgb: np.ndarray) -> bool:
    """A photo with no colour at all, whose skin has no b* to measure: a reason of its own,
    apart from colour photos whose patches miss the skin."""
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / GREY_SAMPLE)))
    r, g, b = (rgb[::step, ::step, c] for c in range(3))
    spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)  # uint8: max >= min
    coloured = spread >= GREY_SPREAD
    return bool(coloured.mean() <= 0.05)


def _skin(lab: np.ndarray) -> np.ndarray:
    """Pixels that can be skin: reddish and yellowish (a* > 0, b* > 3), not the white, grey,
    blue or black of a mask edge reaching into a patch, nor most hair."""
    return (lab[:, 1] > 0) & (lab[:, 2] > 3)


def estimate(
    rgb: np.ndarray,
    points: np.ndarray | None,
    min_pixels: int = 30,
    box: tuple[float, float, float, float] | None = None,
    eyes: np.ndarray | None = None,
) -> SkinTone:
    """The face's tone from its landmark-placed patches, or, without points, from patches
    placed by its two eye centres, or from BOX_REGION of its known face `box`."""
    if points is not None:
        method, patches = "landmarks", [_disc(rgb.shape[:2], c, r) for c, r in skin_patches(points)]
    elif eyes is not None:
        method, patches = "eyes", [_disc(rgb.shape[:2], c, r) for c, r in eye_patches(eyes)]
    elif box is not None:
        method, patches = "box", [box_region(rgb.shape, box)]
    else:
        return SkinTone(None, "unknown", None, "no_landmarks")

    def unknown(reason: str) -> SkinTone:
        return SkinTone(None, "unknown", None, reason, method)

    if greyscale(rgb):
        return unknown("no_chroma(greyscale image)")
    labs = []
    for inside in patches:
        lab = rgb2lab(rgb[inside].reshape(-1, 1, 3) / 255.0).reshape(-1, 3)
        labs.append(lab[(lab[:, 0] > 15) & (lab[:, 0] < 95)])  # no deep shadow or highlight
    pooled = np.concatenate(labs)
    if len(pooled) < min_pixels:
        return unknown(f"too_few_skin_pixels({len(pooled)})")
    # a box region mostly off the skin (hair, background, a skin-coloured wall) is left out
    usable = [
        lab[_skin(lab)]
        for lab in labs
        if _skin(lab).sum() >= min_pixels // 3 and (method != "box" or _skin(lab).mean() >= MIN_SKIN_SHARE)
    ]
    if not usable:
        return unknown("no_skin_coloured_patch")
    usable = [lab[lab[:, 0] >= np.percentile(lab[:, 0], DARKEST_LEFT_OUT)] for lab in usable]
    itas = [
        float(np.degrees(np.arctan2(np.median(lab[:, 0]) - 50.0, np.median(lab[:, 2])))) for lab in usable
    ]
    ita = float(np.median(itas))
    median = np.median(np.concatenate(usable), axis=0)
    monk = int(np.argmin(np.linalg.norm(MONK_LAB - median, axis=1))) + 1
    return SkinTone(ita, ita_bin(ita), monk, None, method)


# the manifest columns a tone fills (pipeline/manifest.py), set once per face by the
# landmarks stage so that evaluation, inspection and the audit all group by the same values
TONE_COLUMNS = ("skin_tone_ita", "skin_tone_bin", "monk_tone", "skin_tone_error", "skin_tone_method")


def tone_columns(tone: SkinTone) -> dict:
    return dict(zip(TONE_COLUMNS, (tone.ita, tone.bin, tone.monk, tone.error, tone.method), strict=True))
