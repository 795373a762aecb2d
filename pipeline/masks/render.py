"""Render a mask onto a face: anti-aliased alpha, shading taken from the face, no halo.

Shapes are drawn at SUPERSAMPLE times the face size and reduced with a box filter, which
gives a smooth edge; the colour layer is defined everywhere (not only inside the shape), so
the blend at the edge mixes mask colour with skin and never with a fringe of background.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from pipeline.masks.geometry import COVERED_POINTS, MaskOutline, correct_wear_outline

SUPERSAMPLE = 4

COLORS: dict[str, tuple[int, int, int]] = {
    "light_blue": (140, 190, 225),
    "white": (235, 235, 232),
    "black": (40, 40, 44),
    "pink": (232, 170, 190),
    "grey": (150, 150, 155),
    "navy": (40, 55, 95),
}


@dataclass(frozen=True)
class Render:
    image: np.ndarray  # HxWx3 uint8, the masked face
    alpha: np.ndarray  # HxW float32 in [0, 1], the mask's coverage
    texture: str


def _canvas(shape: tuple[int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    h, w = shape
    image = Image.new("L", (w * SUPERSAMPLE, h * SUPERSAMPLE), 0)
    return image, ImageDraw.Draw(image)


def _scaled(points: np.ndarray) -> list[tuple[float, float]]:
    return [tuple(p) for p in (points * SUPERSAMPLE + SUPERSAMPLE / 2 - 0.5)]


def _reduce(image: Image.Image, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    return np.asarray(image.resize((w, h), Image.Resampling.BOX), dtype=np.float32) / 255.0


def _surgical_details(outline: MaskOutline, shape: tuple[int, int], face_width: float) -> np.ndarray:
    """Darkening in [0, 1] for three pleats across the mask and the ear loops."""
    image, draw = _canvas(shape)
    line = max(1, round(face_width * 0.012 * SUPERSAMPLE))
    k = len(outline.left)
    for t in (0.3, 0.5, 0.7):
        i = min(k - 1, round(t * (k - 1)))
        draw.line(_scaled(np.array([outline.left[i], outline.right[i]])), fill=255, width=line)
    for side, top in ((outline.left, outline.top[0]), (outline.right, outline.top[-1])):
        ear = top + (top - side[len(side) // 2]) * np.array([0.6, 0.1])
        draw.line(_scaled(np.array([top, ear])), fill=255, width=line)
    return _reduce(image, shape)


# name -> function(outline, face shape, face width) giving a darkening map for the details
KINDS: dict[str, Callable[[MaskOutline, tuple[int, int], float], np.ndarray]] = {
    "surgical": _surgical_details,
}


def _shading(face: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The face's own large-scale lighting under the mask, relative to its mean there, so a
    mask on a face lit from one side is lit from that side too."""
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY).astype(np.float32)
    sigma = max(1.0, face.shape[1] / 12)
    smooth = cv2.GaussianBlur(grey, (0, 0), sigma)
    weight = alpha.sum()
    mean = float((smooth * alpha).sum() / weight) if weight > 0 else float(smooth.mean())
    return np.clip(smooth / max(mean, 1.0), 0.6, 1.3)


def render_mask(face: np.ndarray, points: np.ndarray, kind: str, color: str) -> Render:
    """Draw a correctly worn mask of `kind` and `color` onto `face` (HxWx3 uint8)."""
    shape = face.shape[:2]
    outline = correct_wear_outline(points)
    image, draw = _canvas(shape)
    draw.polygon(_scaled(outline.polygon), fill=255)
    alpha = _reduce(image, shape)
    face_width = float(np.linalg.norm(points[16] - points[0]))
    details = KINDS[kind](outline, shape, face_width)
    colour = np.array(COLORS[color], dtype=np.float32)
    layer = colour[None, None, :] * _shading(face, alpha)[..., None] * (1 - 0.25 * details[..., None])
    blended = face.astype(np.float32) * (1 - alpha[..., None]) + layer * alpha[..., None]
    return Render(np.clip(blended.round(), 0, 255).astype(np.uint8), alpha, "pleated")


def coverage(alpha: np.ndarray, points: np.ndarray) -> tuple[float, int]:
    """Share of the must-cover points (inside the image) under the mask, and how many were
    checked; points the crop cut off cannot be judged and are left out."""
    h, w = alpha.shape
    pts = np.round(points[COVERED_POINTS]).astype(int)
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    pts = pts[inside]
    if not len(pts):
        return 0.0, 0
    return float((alpha[pts[:, 1], pts[:, 0]] >= 0.5).mean()), len(pts)
