"""Drawing surfaces for masks: a supersampled canvas the size of the mask, and the face's frame.

Shapes are drawn at SUPERSAMPLE times the face size and reduced with a box filter, which
gives smooth, anti-aliased edges; the canvas covers only the mask's region, so a large face
does not cost a large drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image, ImageDraw

from pipeline.masks.geometry import MaskOutline, face_width, tilt_degrees

SUPERSAMPLE = 4


class Canvas:
    """A supersampled greyscale drawing surface over one region of the face image."""

    def __init__(self, shape: tuple[int, int], region: tuple[int, int, int, int]) -> None:
        self.shape = shape
        self.x0, self.y0, self.x1, self.y1 = region
        size = ((self.x1 - self.x0) * SUPERSAMPLE, (self.y1 - self.y0) * SUPERSAMPLE)
        self.image = Image.new("L", size, 0)
        self.draw = ImageDraw.Draw(self.image)

    def xy(self, points: np.ndarray) -> list[tuple[float, float]]:
        shifted = (np.asarray(points, dtype=np.float64) - (self.x0, self.y0)) * SUPERSAMPLE
        return [tuple(p) for p in shifted + SUPERSAMPLE / 2 - 0.5]

    def polygon(self, points: np.ndarray, fill: int = 255) -> None:
        self.draw.polygon(self.xy(points), fill=fill)

    def line(self, points: np.ndarray, width: float, fill: int = 255) -> None:
        self.draw.line(self.xy(points), fill=fill, width=max(1, round(width * SUPERSAMPLE)), joint="curve")

    def disc(self, centre: np.ndarray, radius: float, fill: int = 255) -> None:
        (cx, cy), r = self.xy(np.asarray(centre)[None])[0], radius * SUPERSAMPLE
        self.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)

    def ring(self, centre: np.ndarray, radius: float, width: float, fill: int = 255) -> None:
        (cx, cy), r = self.xy(np.asarray(centre)[None])[0], radius * SUPERSAMPLE
        self.draw.ellipse(
            (cx - r, cy - r, cx + r, cy + r), outline=fill, width=max(1, round(width * SUPERSAMPLE))
        )

    def result(self) -> np.ndarray:
        """The drawing at face resolution, in [0, 1], placed in a full-size map."""
        h, w = self.shape
        small = self.image.reduce(SUPERSAMPLE)  # a box filter, as fast as it gets
        out = np.zeros((h, w), dtype=np.float32)
        out[self.y0 : self.y1, self.x0 : self.x1] = np.asarray(small, dtype=np.float32) / 255.0
        return out


@dataclass(frozen=True)
class Frame:
    """The face's own axes, so details and patterns turn with a tilted face."""

    centre: np.ndarray  # mask centre, image pixels
    width: float  # face width, pixels
    angle: float  # roll, degrees
    shape: tuple[int, int]

    @cached_property
    def _uv(self) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.shape
        ys, xs = np.ogrid[0:h, 0:w]
        c, s = np.cos(np.radians(self.angle)), np.sin(np.radians(self.angle))
        dx = (xs.astype(np.float32) - self.centre[0]) / self.width
        dy = (ys.astype(np.float32) - self.centre[1]) / self.width
        return c * dx + s * dy, -s * dx + c * dy

    @property
    def u(self) -> np.ndarray:
        """HxW: across the face, in face widths (computed on first use: not every kind needs it)."""
        return self._uv[0]

    @property
    def v(self) -> np.ndarray:
        """HxW: down the face, in face widths."""
        return self._uv[1]


def face_frame(points: np.ndarray, mask_outline: MaskOutline, shape: tuple[int, int]) -> Frame:
    return Frame(mask_outline.polygon.mean(0), face_width(points), tilt_degrees(points), shape)


def region_of(polygon: np.ndarray, shape: tuple[int, int], pad: float) -> tuple[int, int, int, int]:
    """The pixel box around `polygon` plus `pad`, clamped to the image."""
    h, w = shape
    x0, y0 = np.floor(polygon.min(0) - pad).astype(int)
    x1, y1 = np.ceil(polygon.max(0) + pad).astype(int)
    return max(0, x0), max(0, y0), min(w, max(x1, 1)), min(h, max(y1, 1))
