"""Render a mask onto a face: anti-aliased alpha, the face's own lighting, no halo.

Shapes are drawn at SUPERSAMPLE times the face size, on a canvas only as large as the mask,
and reduced with a box filter, which gives a smooth edge. The colour layer is defined
everywhere (not only inside the shape), so the blend at the edge mixes mask colour with
skin and never with a fringe of background. Each kind (kinds.py) adds its own details as
multiplicative shading; patterns (textures.py) are laid out in the face's frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.face_points import NOSE_TIP
from pipeline.masks.canvas import Canvas, Frame, face_frame, region_of
from pipeline.masks.colors import mask_rgb
from pipeline.masks.geometry import face_width, outline
from pipeline.masks.kinds import KINDS, Context


def shading(face: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The face's own large-scale lighting under the mask, relative to its mean there, so a
    mask on a face lit from one side is lit from that side too."""
    h, w = face.shape[:2]
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    # large-scale light only: blurred at a quarter size (ten times cheaper), then upsized
    small = cv2.resize(grey, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(small.astype(np.float32), (0, 0), max(0.5, w / 48))
    smooth = cv2.resize(blurred, (w, h), interpolation=cv2.INTER_LINEAR)
    weight = alpha.sum()
    mean = float((smooth * alpha).sum() / weight) if weight > 0 else float(smooth.mean())
    return np.clip(smooth / max(mean, 1.0), 0.6, 1.3)


def _relief(alpha: np.ndarray, frame: Frame, points: np.ndarray) -> np.ndarray:
    """The mask's form as shade, from the face's surface: brightest along the crest that runs
    from the nose down to the chin, darker toward the sides as the cloth turns away from the
    camera, and darker again in a rim where it curls onto the skin. The crest follows the
    nose, so on a turned head the far side is narrower and falls off sooner, as it should."""
    inside = (alpha > 0.5).astype(np.uint8)
    if not inside.any():
        return np.ones_like(alpha)
    rim = cv2.distanceTransform(inside, cv2.DIST_L2, 3) / max(0.05 * frame.width, 1.0)
    c, s = np.cos(np.radians(frame.angle)), np.sin(np.radians(frame.angle))
    nose = (points[NOSE_TIP] - frame.centre) / frame.width
    crest = c * nose[0] + s * nose[1]
    u = frame.u[inside > 0]
    left, right = crest - float(u.min()), float(u.max()) - crest
    across = np.where(
        frame.u < crest, (crest - frame.u) / max(left, 1e-3), (frame.u - crest) / max(right, 1e-3)
    )
    turn = 1 - 0.22 * np.clip(across, 0, 1) ** 2
    return (turn * (0.82 + 0.18 * np.clip(rim, 0, 1))).astype(np.float32)


def _folds(shape: tuple[int, int], width: float, rng: np.random.Generator) -> np.ndarray:
    """Soft folds and dents, a smooth random field around 1: worn cloth is never evenly
    taut, and the light on it varies over a few centimetres (a tenth of the face)."""
    h, w = shape
    cell = max(0.1 * width, 4.0)
    grid = (max(2, round(h / cell) + 2), max(2, round(w / cell) + 2))
    coarse = rng.standard_normal(grid).astype(np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return 1 + 0.05 * np.clip(field, -2.5, 2.5)


def _contact_shadow(alpha: np.ndarray, width: float) -> np.ndarray:
    """Multiplicative darkening of the skin just outside the mask, strongest under it: the
    mask stands off the face and shades it (a sticker casts no shadow)."""
    sigma = max(0.025 * width, 0.7)
    drop = max(1, round(0.012 * width))
    below = np.zeros_like(alpha)
    below[drop:] = alpha[:-drop]
    spread = cv2.GaussianBlur(np.maximum(alpha, below), (0, 0), sigma)
    return 1 - 0.45 * np.clip(spread - alpha, 0, 1)


def noise_level(face: np.ndarray, alpha: np.ndarray) -> float:
    """The photo's pixel noise, sigma in grey levels, from the median absolute deviation of
    its fine residual outside the mask (robust to edges, which are few)."""
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY).astype(np.float32)
    residual = grey - cv2.GaussianBlur(grey, (0, 0), 1.0)
    values = residual[alpha < 0.01][::3]  # a third of the pixels give the same median
    if values.size < 64:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _matched_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Grey noise with the photo's sigma (measured the same way, so a fine residual of this
    sigma after the same blur) for the rendered pixels: the mask is never cleaner than the
    picture it is in."""
    if sigma <= 0:
        return np.zeros(shape, np.float32)
    noise = rng.standard_normal(shape, dtype=np.float32)
    measured = (noise - cv2.GaussianBlur(noise, (0, 0), 1.0)).ravel()[::3]
    return noise * (sigma / max(float(1.4826 * np.median(np.abs(measured))), 1e-6))


def mask_context(
    points: np.ndarray, wear: str, color: str, shape: tuple[int, int], rng: np.random.Generator
) -> Context:
    """What a kind draws from: the outline for `wear`, the body's coverage, the face frame
    and the regions its canvases cover."""
    mask_outline = outline(points, wear)
    region = region_of(
        np.vstack([mask_outline.polygon, points[[0, 16]]]), shape, pad=0.35 * face_width(points)
    )
    tight = region_of(mask_outline.polygon, shape, pad=2)
    body = Canvas(shape, tight)
    body.polygon(mask_outline.polygon)
    return Context(
        outline=mask_outline,
        points=points,
        frame=face_frame(points, mask_outline, shape),
        alpha=body.result(),
        base=mask_rgb(color, rng),
        rng=rng,
        shape=shape,
        region=region,
        body=tight,
    )


@dataclass(frozen=True)
class Render:
    image: np.ndarray  # HxWx3 uint8, the masked face
    alpha: np.ndarray  # HxW float32 in [0, 1], the mask's coverage
    kind: str
    color: str
    texture: str
    wear: str


def render_mask(
    face: np.ndarray,
    points: np.ndarray,
    kind: str,
    color: str,
    wear: str = "correct",
    rng: np.random.Generator | None = None,
) -> Render:
    """Draw a mask of `kind` and `color` worn as `wear` onto `face` (HxWx3 uint8). `rng`
    picks the kind's variations (pattern, valve, lit side); the same state, the same render."""
    shape = face.shape[:2]
    ctx = mask_context(points, wear, color, shape, rng if rng is not None else np.random.default_rng(0))
    alpha = ctx.alpha
    paint = KINDS[kind](ctx)
    shade = shading(face, alpha) * paint.shade * _relief(alpha, ctx.frame, points)
    shade *= _folds(shape, ctx.frame.width, ctx.rng)
    layer = paint.colour * shade[..., None]
    cover = np.maximum(alpha, paint.straps)  # loops and straps lie beyond the body
    image = composite(face, layer, alpha, cover, ctx.frame.width, ctx.rng)
    return Render(image, alpha, kind, color, paint.texture, wear)


def composite(
    face: np.ndarray,
    layer: np.ndarray,
    alpha: np.ndarray,
    cover: np.ndarray,
    width: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """`layer` (HxWx3 float) laid over `face` where `cover` says, as a photographed mask
    would be: with the photo's own noise, a contact shadow on the skin around `alpha` (the
    mask's body), and no colour on a grey photo (colour where the source has none is a
    shortcut). Both methods, drawn and transferred, finish here."""
    layer = layer + _matched_noise(face.shape[:2], noise_level(face, alpha), rng)[..., None]
    skin = face.astype(np.float32) * _contact_shadow(alpha, width)[..., None]
    blended = skin * (1 - cover[..., None]) + layer * cover[..., None]
    image = np.clip(blended.round(), 0, 255).astype(np.uint8)
    if max(cv2.absdiff(face[..., 0], face[..., c]).max() for c in (1, 2)) <= 2:
        image = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    return image
