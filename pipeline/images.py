"""Safe image decoding and the content hashes every later stage relies on.

Real face-mask sets hold zero-byte files, PNGs named .jpg, CMYK JPEGs, palette images and
EXIF-rotated phone photos. Every one of those must become either RGB pixels the right way up
or an `ImageRejected` with a reason; nothing here may crash a stage or skip a file silently.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 50_000_000

# Extensions each Pillow format may legitimately carry.
_EXTENSIONS = {
    "JPEG": {".jpg", ".jpeg", ".jpe", ".jfif"},
    "PNG": {".png"},
    "BMP": {".bmp"},
    "WEBP": {".webp"},
    "TIFF": {".tif", ".tiff"},
    "GIF": {".gif"},
}
IMAGE_EXTENSIONS = frozenset(ext for exts in _EXTENSIONS.values() for ext in exts)


class ImageRejected(Exception):
    """An input that cannot become a face sample; `reason` is a stable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 else 255.0
        return Image.fromarray((arr / peak * 255.0).round().astype(np.uint8)).convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, im.convert("RGBA")).convert("RGB")
    return im.convert("RGB")


def load_rgb(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode `path` to an HxWx3 uint8 array, EXIF orientation applied, or raise ImageRejected."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageRejected("unreadable", str(exc)) from exc
    if size == 0:
        raise ImageRejected("empty_file", "0 bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except UnidentifiedImageError as exc:
        raise ImageRejected("not_an_image", f"{size} bytes, no known image format") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("too_large", str(exc)) from exc
    except OSError as exc:
        raise ImageRejected("decode_error", str(exc)) from exc
    with im:
        fmt = im.format or "?"
        ext = path.suffix.lower()
        if ext and fmt in _EXTENSIONS and ext not in _EXTENSIONS[fmt]:
            raise ImageRejected("wrong_extension", f"{fmt} data in a {ext} file")
        width, height = im.size
        if width * height > max_pixels:
            raise ImageRejected("too_large", f"{width}x{height} > {max_pixels} pixels")
        if getattr(im, "n_frames", 1) > 1:
            raise ImageRejected("animated", f"{fmt} with {im.n_frames} frames")
        try:
            im.load()
            im = ImageOps.exif_transpose(im)
            rgb = _to_rgb(im)
        except (OSError, SyntaxError, ValueError) as exc:
            reason = "truncated" if "truncated" in str(exc).lower() else "decode_error"
            raise ImageRejected(reason, str(exc)) from exc
    return np.asarray(rgb, dtype=np.uint8)


def pixel_sha256(rgb: np.ndarray) -> str:
    """Hash of decoded pixels: a PNG and a lossless re-save of it are the same image."""
    h = hashlib.sha256(f"{rgb.shape[0]}x{rgb.shape[1]}x{rgb.shape[2]}".encode())
    h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()


def content_hashes(rgb: np.ndarray) -> dict[str, str]:
    """The manifest's hash columns for one face: sha256, phash and phash_mirror."""
    im = Image.fromarray(rgb)
    return {
        "sha256": pixel_sha256(rgb),
        "phash": str(imagehash.phash(im)),
        "phash_mirror": str(imagehash.phash(ImageOps.mirror(im))),
    }


def save_png(rgb: np.ndarray, path: Path) -> None:
    """PNG is lossless, so the pixels hashed are the pixels every later stage reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(rgb).save(tmp, format="PNG", optimize=False)
    tmp.replace(path)
