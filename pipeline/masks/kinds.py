"""The mask kinds: what each adds to the plain outline, drawn from the landmarks alone.

Each kind returns a Paint: the colour layer, a multiplicative shade (pleats, folds, cup
curvature, grain), straps or loops that lie beyond the mask body, and the texture name the
manifest records. Sizes are fractions of the face width and positions are in the face's
frame, so every detail scales and turns with the face.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from pipeline.masks.canvas import Canvas, Frame
from pipeline.masks.colors import COLORS
from pipeline.masks.geometry import MaskOutline
from pipeline.masks.textures import PATTERNS, grain


@dataclass(frozen=True)
class Context:
    outline: MaskOutline
    points: np.ndarray
    frame: Frame
    alpha: np.ndarray  # the body's coverage
    base: np.ndarray  # the chosen colour, RGB float
    rng: np.random.Generator
    shape: tuple[int, int]
    region: tuple[int, int, int, int]  # the mask and what reaches beyond it (loops, straps)
    body: tuple[int, int, int, int]  # the mask alone

    def canvas(self, beyond: bool = False) -> Canvas:
        """A canvas over the mask, or over the wider region when the drawing leaves it."""
        return Canvas(self.shape, self.region if beyond else self.body)

    def at(self, across: float, down: float) -> np.ndarray:
        """The image point `across`, `down` face widths from the mask centre, in the face frame."""
        c, s = np.cos(np.radians(self.frame.angle)), np.sin(np.radians(self.frame.angle))
        offset = np.array([c * across - s * down, s * across + c * down]) * self.frame.width
        return self.frame.centre + offset

    def flat(self) -> np.ndarray:
        return np.broadcast_to(self.base, (*self.shape, 3)).astype(np.float32)


@dataclass(frozen=True)
class Paint:
    colour: np.ndarray  # HxWx3 float RGB before lighting
    shade: np.ndarray  # HxW multiplicative
    straps: np.ndarray  # HxW coverage of loops and straps outside the body
    texture: str


def _soft(lines: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(lines, (0, 0), max(sigma, 0.5))


def _ear_loops(ctx: Context, width: float) -> np.ndarray:
    """Elastic loops from the mask's top corner and the middle of its side back to each ear.
    Seen from the front a loop lies along the face's edge, so both follow the (pushed) jaw
    up to the ear rather than cutting across the cheek, which matters most for a mask
    pulled down to the chin, whose corners sit far below the ears."""
    canvas = ctx.canvas(beyond=True)
    jaw, a = ctx.outline.jaw, ctx.outline.top_jaw
    for ear, chain, sides in (
        (1, range(a, 0, -1), ctx.outline.left),
        (15, range(16 - a, 16), ctx.outline.right),
    ):
        ear_point = jaw[ear] + (jaw[ear] - jaw[16 - ear]) * 0.03
        canvas.line(np.vstack([jaw[list(chain)], ear_point]), width)
        # the lower loop leaves the side halfway down and meets the jaw below the corner
        low = min(range(17), key=lambda i: float(np.linalg.norm(jaw[i] - sides[len(sides) // 2])))
        route = range(low, ear, -1) if ear == 1 else range(low, ear)
        canvas.line(np.vstack([sides[len(sides) // 2], jaw[list(route)], ear_point]), width)
    return canvas.result() * (1 - ctx.alpha)


def _edge_seam(ctx: Context, width: float) -> np.ndarray:
    """A thin line just inside the outline: the hem or heat seal every mask has."""
    canvas = ctx.canvas()
    ring = np.vstack([ctx.outline.polygon, ctx.outline.polygon[:1]])
    shrunk = ctx.frame.centre + (ring - ctx.frame.centre) * 0.96
    canvas.line(shrunk, width)
    return canvas.result() * ctx.alpha


def surgical(ctx: Context) -> Paint:
    w = ctx.frame.width
    o = ctx.outline
    canvas, ridges = ctx.canvas(), ctx.canvas()
    k = len(o.left)
    down = ctx.at(0.0, 0.025) - ctx.at(0.0, 0.0)
    for t in (0.3, 0.5, 0.7):
        i = min(k - 1, round(t * (k - 1)))
        canvas.line(np.array([o.left[i], o.right[i]]), 0.012 * w)
        # relief: each fold's crease is dark and the lip of cloth just below it catches light
        ridges.line(np.array([o.left[i], o.right[i]]) + down, 0.03 * w)
    pleats = _soft(canvas.result(), 0.004 * w)
    lips = _soft(ridges.result(), 0.012 * w)
    wire = ctx.canvas()
    wire.line(ctx.frame.centre + (o.top[2:-2] - ctx.frame.centre) * 0.93, 0.02 * w)
    shade = (1 - 0.3 * pleats) * (1 + 0.1 * lips) * (1 - 0.12 * wire.result())
    shade *= 1 - 0.15 * _edge_seam(ctx, 0.01 * w)
    shade *= grain(ctx.shape, ctx.rng, 0.02)
    return Paint(ctx.flat(), shade, _ear_loops(ctx, 0.012 * w), "pleated")


def n95(ctx: Context) -> Paint:
    """A moulded cup: bright at its crown, darker toward the rim; headbands, and a valve
    on one cheek for half of them."""
    w = ctx.frame.width
    r = np.hypot(ctx.frame.u / 0.45, (ctx.frame.v + 0.05) / 0.4)
    shade = np.clip(1.1 - 0.3 * r**2, 0.7, 1.1) * (1 - 0.2 * _edge_seam(ctx, 0.015 * w))
    shade *= grain(ctx.shape, ctx.rng, 0.03)
    colour = ctx.flat().copy()
    texture = "cup"
    if ctx.rng.random() < 0.5:
        side = float(ctx.rng.choice([-1.0, 1.0]))
        centre = ctx.at(0.17 * side, 0.08)
        valve = ctx.canvas()
        valve.disc(centre, 0.1 * w)
        body = valve.result()
        rim = ctx.canvas()
        rim.ring(centre, 0.1 * w, 0.015 * w)
        rim.ring(centre, 0.055 * w, 0.01 * w)
        plastic = np.array(COLORS["grey"] if ctx.base.mean() > 120 else COLORS["white"], np.float32)
        colour = colour * (1 - body[..., None]) + plastic * body[..., None]
        shade = shade * (1 - 0.35 * rim.result()) * (1 + 0.1 * body)
        texture = "cup_valve"
    bands = ctx.canvas(beyond=True)
    p = ctx.points
    for jaw, level in ((1, 0.15), (4, 0.7)):
        side_l = ctx.outline.left[round(level * (len(ctx.outline.left) - 1))]
        side_r = ctx.outline.right[round(level * (len(ctx.outline.right) - 1))]
        bands.line(np.array([side_l, p[jaw] - (p[16 - jaw] - p[jaw]) * 0.08]), 0.02 * w)
        bands.line(np.array([side_r, p[16 - jaw] + (p[16 - jaw] - p[jaw]) * 0.08]), 0.02 * w)
    return Paint(colour, shade, bands.result() * (1 - ctx.alpha), texture)


def kn95(ctx: Context) -> Paint:
    """Two flat panels meeting at a vertical centre fold, lit differently on each side."""
    w = ctx.frame.width
    o = ctx.outline
    fold = ctx.canvas()
    fold.line(np.array([o.top[len(o.top) // 2], o.bottom[len(o.bottom) // 2]]), 0.012 * w)
    lit = float(ctx.rng.choice([-1.0, 1.0]))
    panels = np.where(ctx.frame.u * lit > 0, 1.05, 0.92) + np.clip(ctx.frame.u * lit, -0.05, 0.05)
    panels = _soft(panels.astype(np.float32), 0.008 * w)
    shade = panels * (1 - 0.3 * _soft(fold.result(), 0.003 * w)) * (1 - 0.2 * _edge_seam(ctx, 0.012 * w))
    shade *= grain(ctx.shape, ctx.rng, 0.02)
    return Paint(ctx.flat(), shade, _ear_loops(ctx, 0.012 * w), "folded")


def cloth(ctx: Context) -> Paint:
    """A printed or woven cloth mask: a pattern in a second colour, a centre seam, grain."""
    w = ctx.frame.width
    pattern = str(ctx.rng.choice(list(PATTERNS)))
    others = [c for c in COLORS.values() if np.abs(np.array(c) - ctx.base).sum() > 150]
    second = np.array(others[ctx.rng.integers(len(others))], np.float32)
    amount = PATTERNS[pattern](ctx.frame, ctx.rng)[..., None]
    colour = ctx.flat() * (1 - amount) + second * amount
    seam = ctx.canvas()
    o = ctx.outline
    seam.line(np.array([o.top[len(o.top) // 2], o.bottom[len(o.bottom) // 2]]), 0.01 * w)
    shade = (1 - 0.25 * _soft(seam.result(), 0.004 * w)) * (1 - 0.2 * _edge_seam(ctx, 0.012 * w))
    shade *= grain(ctx.shape, ctx.rng, 0.05)
    return Paint(colour.astype(np.float32), shade, _ear_loops(ctx, 0.016 * w), pattern)


def cartridges(mask: MaskOutline, shape: tuple[int, int], width: float) -> list[tuple[np.ndarray, float]]:
    """(centre, radius) of a respirator's two filter cartridges and its exhalation port,
    placed on the mask body (so they follow a mask pulled down to the chin): the cartridges
    on the cheeks, the port low on the midline. On a tight crop that cuts the chin they move
    up and shrink so each is whole inside the image (a disc cut by the border reads as a
    half moon, nothing a respirator has)."""
    h, w = shape
    centre = mask.polygon.mean(0)
    bottom = mask.bottom[len(mask.bottom) // 2]
    parts = [
        (mask.left[5] * 0.65 + centre * 0.35, 0.13 * width),
        (mask.right[5] * 0.65 + centre * 0.35, 0.13 * width),
        (centre * 0.6 + bottom * 0.4, 0.07 * width),
    ]
    placed = []
    for centre, radius in parts:
        room = min(h - 1 - centre[1], centre[0], w - 1 - centre[0])
        radius = max(min(radius, room), 0.6 * radius)
        x = np.clip(centre[0], radius, w - 1 - radius)
        y = min(centre[1], h - 1 - radius)
        placed.append((np.array([x, y], np.float64), float(radius)))
    return placed


def respirator(ctx: Context) -> Paint:
    """An elastomeric (gas) respirator: a dark rubber face piece with two filter cartridges
    at the cheeks, an exhalation port before the mouth, and head straps."""
    w = ctx.frame.width
    rubber = ctx.base * 0.45 + 10
    colour = np.broadcast_to(rubber.astype(np.float32), (*ctx.shape, 3)).copy()
    discs, rims = ctx.canvas(beyond=True), ctx.canvas(beyond=True)
    for centre, radius in cartridges(ctx.outline, ctx.shape, w):
        discs.disc(centre, radius)
        rims.ring(centre, radius, 0.15 * radius)
        rims.ring(centre, 0.5 * radius, 0.09 * radius)
    parts = discs.result()
    filter_colour = np.array(COLORS["grey"] if ctx.rng.random() < 0.5 else COLORS["khaki"], np.float32)
    colour = colour * (1 - parts[..., None]) + filter_colour * 0.65 * parts[..., None]
    straps = ctx.canvas(beyond=True)
    o, jaw = ctx.outline, ctx.outline.jaw
    # an upper and a lower strap leave each side and run back past the face's edge, level
    # with the ear and the jaw's angle: around the head, never up toward the eyes
    for level, anchor in ((0.15, 2), (0.7, 5)):
        for side, j in ((o.left, anchor), (o.right, 16 - anchor)):
            start = side[round(level * (len(side) - 1))]
            end = jaw[j] + (jaw[j] - jaw[16 - j]) * 0.12
            straps.line(np.array([start, end]), 0.03 * w)
    strap_cover = straps.result()
    colour = colour * (1 - strap_cover[..., None]) + np.float32(30) * strap_cover[..., None]
    shade = (
        (1 - 0.4 * rims.result()) * (1 + 0.15 * _edge_seam(ctx, 0.02 * w)) * grain(ctx.shape, ctx.rng, 0.02)
    )
    beyond = np.maximum(parts, strap_cover) * (1 - ctx.alpha)
    return Paint(colour, shade.astype(np.float32), beyond, "rubber")


MaskKind = Literal["surgical", "n95", "kn95", "cloth", "respirator"]  # the keys of KINDS
KINDS: dict[str, Callable[[Context], Paint]] = {
    "surgical": surgical,
    "n95": n95,
    "kn95": kn95,
    "cloth": cloth,
    "respirator": respirator,
}
