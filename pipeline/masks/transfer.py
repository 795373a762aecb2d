"""Transfer: a real mask (donors.py) worn by an unmasked face, placed by the face's landmarks.

The donor's mask is stretched onto the outline the renderer would draw for the same wear
(geometry.py), turned with the face's roll, lit by the face's own light and finished as a
drawn mask is (render.composite: the photo's noise, a contact shadow, grey on grey photos),
so QA judges both methods by the same rule.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.masks.donors import Donor, skin_band
from pipeline.masks.geometry import face_width, outline, tilt_degrees
from pipeline.masks.render import Render, composite, shading

REACH = 0.06  # a real mask may reach this share of the face width beyond the drawn outline
MAX_GAIN = 1.6  # a donor lit much darker or brighter than the face is brought at most this far


def placement(points: np.ndarray, polygon: np.ndarray, donor: Donor) -> np.ndarray:
    """The 2x3 affine map from the donor's pixels to the face's: the donor's box onto the
    box of the wear's outline `polygon`, measured in the face's own (rolled) frame."""
    angle = np.radians(tilt_degrees(points))
    c, s = np.cos(angle), np.sin(angle)
    to_face = np.array([[c, -s], [s, c]])
    centre = polygon.mean(0)
    upright = (polygon - centre) @ to_face  # rows times R: rotated by -angle
    (x0, y0), (x1, y1) = upright.min(0), upright.max(0)
    h, w = donor.alpha.shape
    scale = np.diag([(x1 - x0) / w, (y1 - y0) / h])
    linear = to_face @ scale
    # the donor's box edge (half a pixel before its first pixel centre) on the box corner
    offset = centre + to_face @ np.array([x0, y0]) + linear @ np.array([0.5, 0.5])
    return np.hstack([linear, offset[:, None]])


def _within(points: np.ndarray, polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Where a worn mask may lie: the wear's outline grown by REACH of the face width, with
    a soft edge. A donor's box holds bits of its own cheeks and background at the sides,
    which on another face would float beyond the jaw."""
    width = face_width(points)
    inside = np.zeros(shape, np.uint8)
    cv2.fillPoly(inside, [np.round(polygon).astype(np.int32)], 1)
    grown = cv2.dilate(
        inside, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * round(REACH * width) + 1,) * 2)
    )
    return cv2.GaussianBlur(grown.astype(np.float32), (0, 0), max(0.01 * width, 0.5))


def _skin_level(face: np.ndarray, alpha: np.ndarray) -> float:
    """Median grey of the skin just above the mask, where donors.cut_mask measures its
    donor's (128, mid-grey, where the mask starts at the image's top edge)."""
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)[skin_band(alpha > 0.5) > 0]
    return float(np.median(grey)) if grey.size else 128.0


def transfer_mask(
    face: np.ndarray, points: np.ndarray, donor: Donor, wear: str, rng: np.random.Generator
) -> Render:
    """`donor`'s mask worn as `wear` by `face` (HxWx3 uint8)."""
    h, w = face.shape[:2]
    polygon = outline(points, wear).polygon
    matrix = placement(points, polygon, donor)
    rgb = cv2.warpAffine(donor.rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(donor.alpha, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    alpha = np.clip(alpha, 0.0, 1.0) * _within(points, polygon, (h, w))
    # the donor's light to the face's: the ratio of the skin levels just above the two masks,
    # square-rooted, since part of a level is skin tone and not light
    gain = float(
        np.clip(np.sqrt(_skin_level(face, alpha) / max(donor.lightness, 1.0)), 1 / MAX_GAIN, MAX_GAIN)
    )
    layer = rgb.astype(np.float32) * (gain * shading(face, alpha))[..., None]
    image = composite(face, layer, alpha, alpha, face_width(points), rng)
    return Render(image, alpha, "transferred", "", f"donor:{donor.id}", wear)
