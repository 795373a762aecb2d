"""Real masks cut out of a source's own masked faces, to be worn by unmasked faces (transfer.py).

A drawn mask, however shaded, is a render; a real one carries what a renderer misses: the
fabric's translucency, wrinkles at the nose wire, the print, the photo's own blur and JPEG.
The cut is GrabCut (OpenCV) seeded by where a mask sits in a face crop: the forehead and the
crop's sides are not mask, the middle of the lower face is. A cut is only kept when its
shape is mask-like, so a hand over the mouth or a blurry crowd face gives a reason, not a
sticker of background.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CUT_SIZE = 96  # px: the crop's longer side is resized to this before the cut
# Shape checks of a cut, as shares of the crop: a mask covers much of the lower face and
# starts below the eyes; less is a hand, a scarf or a failed cut, more is background.
MIN_AREA, MAX_AREA = 0.12, 0.6
MIN_WIDTH = 0.45
TOP_RANGE = (0.25, 0.65)
MIN_SOLIDITY = 0.8  # area over its convex hull's: a mask is a compact, convex-ish shape
BAND = 0.2  # of the mask's height: the skin just above it (nose and cheeks) is measured here
MIN_CONTRAST = 12.0  # CIELAB distance between the cut and that skin: less, the cut is skin


@dataclass(frozen=True)
class Donor:
    """One real mask, cropped to its own bounding box."""

    id: str
    rgb: np.ndarray  # hxwx3 uint8, the mask's pixels (and whatever lies around them)
    alpha: np.ndarray  # hxw float32 in [0, 1]: which of them are the mask
    lightness: float  # median grey level of the skin just above the mask: the donor's light


class NotADonor(ValueError):
    """A masked face whose mask could not be cut out cleanly: a stable `reason` code and the
    measurement that decided it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def _seeds(h: int, w: int) -> np.ndarray:
    """GrabCut's starting labels from the layout of a face crop with a mask on."""
    seeds = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    seeds[int(0.45 * h) : int(0.92 * h), int(0.15 * w) : int(0.85 * w)] = cv2.GC_PR_FGD
    seeds[int(0.58 * h) : int(0.8 * h), int(0.32 * w) : int(0.68 * w)] = cv2.GC_FGD
    seeds[: int(0.28 * h)] = cv2.GC_BGD
    side = max(1, int(0.04 * w))
    seeds[:, :side] = cv2.GC_BGD
    seeds[:, w - side :] = cv2.GC_BGD
    return seeds


def _largest_component(binary: np.ndarray) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 1:
        return binary
    return (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)


def skin_band(inside: np.ndarray) -> np.ndarray:
    """Where the skin just above a mask (`inside`: nonzero on it) is: a band BAND of the
    mask's height tall over the middle three fifths of its width, outside the mask. Donor
    and face are measured here alike, so their ratio is a ratio of light."""
    band = np.zeros(inside.shape, np.uint8)
    if not inside.any():
        return band
    x, y, w, h = cv2.boundingRect((inside > 0).astype(np.uint8))
    band[max(0, y - round(BAND * h)) : y, x + w // 5 : x + w - w // 5] = 1
    return band & (inside == 0)


def cut_mask(rgb: np.ndarray, donor_id: str = "") -> Donor:
    """The mask of a masked face crop, or NotADonor. Deterministic: OpenCV's generator, which
    GrabCut's colour models start from, is seeded for every cut."""
    h, w = rgb.shape[:2]
    scale = CUT_SIZE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    ch, cw = img.shape[:2]
    labels = _seeds(ch, cw)
    cv2.setRNGSeed(0)
    models = (np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64))
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    try:
        cv2.grabCut(bgr, labels, (0, 0, cw, ch), *models, 5, cv2.GC_INIT_WITH_MASK)
    except cv2.error as exc:  # a crop of one flat colour has no second colour model
        raise NotADonor("donor_cut_failed", exc.err) from exc
    cut = _largest_component(((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8))
    area = float(cut.mean())
    if not MIN_AREA <= area <= MAX_AREA:
        raise NotADonor(
            "donor_area", f"the cut covers {area:.2f} of the crop, outside [{MIN_AREA}, {MAX_AREA}]"
        )
    x, y, bw, bh = cv2.boundingRect(cut)
    if bw < MIN_WIDTH * cw:
        raise NotADonor("donor_narrow", f"the cut is {bw / cw:.2f} of the crop wide, under {MIN_WIDTH}")
    if not TOP_RANGE[0] <= y / ch <= TOP_RANGE[1]:
        raise NotADonor(
            "donor_top", f"the cut starts at {y / ch:.2f} of the crop's height, outside {TOP_RANGE}"
        )
    hull = cv2.convexHull(cv2.findNonZero(cut))
    solidity = float(cut.sum()) / max(cv2.contourArea(hull), 1.0)
    if solidity < MIN_SOLIDITY:
        raise NotADonor("donor_ragged", f"solidity {solidity:.2f} under {MIN_SOLIDITY}")
    band = skin_band(cut)
    if band.sum() < 4:
        raise NotADonor("donor_top", "no skin above the cut to compare it with")
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float32)
    contrast = float(np.linalg.norm(lab[cut > 0].mean(0) - lab[band > 0].mean(0)))
    if contrast < MIN_CONTRAST:
        raise NotADonor(
            "donor_skin", f"the cut is {contrast:.1f} from the skin above it, under {MIN_CONTRAST}"
        )
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    # a one-pixel soft edge: GrabCut's edge is a hard staircase
    alpha = cv2.GaussianBlur(cut.astype(np.float32), (0, 0), 0.8)
    box = (slice(max(y - 1, 0), y + bh + 1), slice(max(x - 1, 0), x + bw + 1))
    return Donor(
        id=donor_id,
        rgb=np.ascontiguousarray(img[box]),
        alpha=np.ascontiguousarray(alpha[box]),
        lightness=float(np.median(grey[band > 0])),
    )
