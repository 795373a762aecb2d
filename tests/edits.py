"""Edits a photo goes through on its way round the web, shared by the dedup tests and
benchmarks/dedup.py so both measure the same thing."""

from __future__ import annotations

from PIL import Image, ImageFilter


def framed(im: Image.Image, side: float, fill: tuple[int, int, int] | None = (0, 0, 0), letterbox=False):
    """`im` inside a border of `side` of its size a side (top and bottom only for a
    letterbox): a uniform colour, or (fill None) the image itself stretched and blurred, as
    video and social media letterbox a picture."""
    w, h = im.size
    dx, dy = (0 if letterbox else round(w * side)), round(h * side)
    size = (w + 2 * dx, h + 2 * dy)
    if fill is None:
        canvas = im.resize(size).filter(ImageFilter.GaussianBlur(max(size) / 20))
    else:
        canvas = Image.new("RGB", size, fill)
    canvas.paste(im, (dx, dy))
    return canvas
