"""Procedural cloth patterns and fabric grain, laid out in the face's own frame.

Patterns are maps in [0, 1] computed from the frame's (u, v) coordinates in face widths, so
a pattern keeps its scale on any face size and turns with a tilted face; their edges are
smoothed over one pixel, so stripes and dots are anti-aliased like the outline.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from pipeline.masks.canvas import Frame


def _smoothstep(edge: np.ndarray, pixel: float) -> np.ndarray:
    """0 below -pixel/2, 1 above +pixel/2, linear between: a one-pixel anti-aliased edge."""
    return np.clip(edge / pixel + 0.5, 0.0, 1.0)


def _rotated(frame: Frame, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return c * frame.u + s * frame.v, -s * frame.u + c * frame.v


def plain(frame: Frame, rng: np.random.Generator) -> np.ndarray:
    return np.zeros_like(frame.u)


def stripes(frame: Frame, rng: np.random.Generator) -> np.ndarray:
    period = rng.uniform(0.06, 0.12)
    _, v = _rotated(frame, float(rng.choice([0.0, 45.0, 90.0, -30.0])))
    wave = np.sin(2 * np.pi * v / period)
    return _smoothstep(wave, 2 * np.pi / period / frame.width)


def dots(frame: Frame, rng: np.random.Generator) -> np.ndarray:
    spacing = rng.uniform(0.07, 0.12)
    u, v = _rotated(frame, float(rng.uniform(0, 45)))
    # one rounding decides both the row and its centre: a row index from floor with a centre
    # from round put half the rows' shift mid-dot, which drew half discs
    row = np.round(v / spacing)
    u = u + (row % 2) * spacing / 2  # staggered rows, as printed polka dots are
    du = u - np.round(u / spacing) * spacing
    dv = v - row * spacing
    radius = spacing * rng.uniform(0.18, 0.3)
    return _smoothstep(radius - np.hypot(du, dv), 1.0 / frame.width)


def checks(frame: Frame, rng: np.random.Generator) -> np.ndarray:
    """Gingham: two crossing sets of half-tone stripes."""
    period = rng.uniform(0.08, 0.14)
    u, v = _rotated(frame, 0.0)
    pixel = 2 * np.pi / period / frame.width
    across = _smoothstep(np.sin(2 * np.pi * u / period), pixel)
    down = _smoothstep(np.sin(2 * np.pi * v / period), pixel)
    return (across + down) / 2


PATTERNS: dict[str, Callable[[Frame, np.random.Generator], np.ndarray]] = {
    "plain": plain,
    "stripes": stripes,
    "dots": dots,
    "checks": checks,
}


def grain(shape: tuple[int, int], rng: np.random.Generator, amount: float) -> np.ndarray:
    """Multiplicative fabric grain around 1: fine noise softened below a pixel, so a mask is
    not a flat plastic fill."""
    noise = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), 0.7)
    return 1.0 + amount * noise / max(float(noise.std()), 1e-6)
