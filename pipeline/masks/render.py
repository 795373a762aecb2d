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

from pipeline.masks.canvas import Canvas, face_frame, region_of
from pipeline.masks.colors import COLORS
from pipeline.masks.geometry import face_width, outline
from pipeline.masks.kinds import KINDS, Context


def _shading(face: np.ndarray, alpha: np.ndarray) -> np.ndarray:
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
    mask_outline = outline(points, wear)
    region = region_of(
        np.vstack([mask_outline.polygon, points[[0, 16]]]), shape, pad=0.35 * face_width(points)
    )
    tight = region_of(mask_outline.polygon, shape, pad=2)
    body = Canvas(shape, tight)
    body.polygon(mask_outline.polygon)
    alpha = body.result()
    ctx = Context(
        outline=mask_outline,
        points=points,
        frame=face_frame(points, mask_outline, shape),
        alpha=alpha,
        base=np.array(COLORS[color], dtype=np.float32),
        rng=rng if rng is not None else np.random.default_rng(0),
        shape=shape,
        region=region,
        body=tight,
    )
    paint = KINDS[kind](ctx)
    layer = paint.colour * (_shading(face, alpha) * paint.shade)[..., None]
    cover = np.maximum(alpha, paint.straps)[..., None]  # loops and straps lie beyond the body
    blended = face.astype(np.float32) * (1 - cover) + layer * cover
    image = np.clip(blended.round(), 0, 255).astype(np.uint8)
    if max(cv2.absdiff(face[..., 0], face[..., c]).max() for c in (1, 2)) <= 2:
        # a grey photo gets a grey mask: colour where the source has none is a shortcut
        image = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    return Render(image, alpha, kind, color, paint.texture, wear)
