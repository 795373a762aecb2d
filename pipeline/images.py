"""Safe image decoding and the content hashes every later stage relies on.

Real face-mask sets hold zero-byte files, PNGs named .jpg, CMYK JPEGs, palette images and
EXIF-rotated phone photos. Every one of those must become either RGB pixels the right way up
or an `ImageRejected` with a reason; nothing here may crash a stage or skip a file silently.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import cv2
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


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def declared_size(head: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) a PNG, BMP or JPEG header declares, read from its first
    bytes; None when they are none of these. Pillow refuses a file declaring 0x0 pixels as
    'cannot identify', which would call a real image format 'not an image'."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
        return "PNG", int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head.startswith(b"BM") and len(head) >= 26:
        return (
            "BMP",
            int.from_bytes(head[18:22], "little", signed=True),
            abs(int.from_bytes(head[22:26], "little", signed=True)),
        )
    if head.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 <= len(head) and head[i] == 0xFF:
            marker, length = head[i + 1], int.from_bytes(head[i + 2 : i + 4], "big")
            if marker in _JPEG_SOF:
                return (
                    "JPEG",
                    int.from_bytes(head[i + 7 : i + 9], "big"),
                    int.from_bytes(head[i + 5 : i + 7], "big"),
                )
            i += 2 + length
    return None


def load_rgb(path: Path | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
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
        with path.open("rb") as f:
            declared = declared_size(f.read(65536))
        if declared and 0 in declared[1:]:
            fmt, width, height = declared
            raise ImageRejected("zero_size", f"{fmt} header declares {width}x{height} pixels") from exc
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
        frames = getattr(im, "n_frames", 1)
        if frames > 1:
            raise ImageRejected("animated", f"{fmt} with {frames} frames")
        try:
            im.load()
            rgb = _to_rgb(ImageOps.exif_transpose(im))
        except (OSError, SyntaxError, ValueError) as exc:
            reason = "truncated" if "truncated" in str(exc).lower() else "decode_error"
            raise ImageRejected(reason, str(exc)) from exc
    return np.asarray(rgb, dtype=np.uint8)


def pixel_sha256(rgb: np.ndarray) -> str:
    """Hash of decoded pixels: a PNG and a lossless re-save of it are the same image."""
    h = hashlib.sha256(f"{rgb.shape[0]}x{rgb.shape[1]}x{rgb.shape[2]}".encode())
    h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()


_BITS = np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64)
# unnormalised DCT-II basis, lowest 8 of 32 frequencies: scipy's (and imagehash's) dct
_DCT8 = 2 * np.cos(np.pi * np.arange(8)[:, None] * (2 * np.arange(32) + 1) / 64)


def dct_hashes(squares: np.ndarray) -> np.ndarray:
    """pHash of each of a stack of 32x32 grey images, as uint64: the 8x8 lowest DCT
    frequencies against their median, imagehash's algorithm, as two matrix products for
    the whole stack instead of two scipy calls per image."""
    low = (_DCT8 @ squares.astype(np.float64) @ _DCT8.T).reshape(len(squares), 64)
    middle = np.sort(low, axis=1)[:, 31:33].mean(axis=1, keepdims=True)  # np.median, without its overhead
    bits = low > middle
    return (bits.astype(np.uint64) * _BITS).sum(axis=1, dtype=np.uint64)


def content_hashes(rgb: np.ndarray) -> dict[str, str]:
    """The manifest's hash columns for one face: sha256, phash and phash_mirror. The
    pHashes are bit for bit imagehash.phash's (tests/test_images.py checks), from one
    32x32 thumbnail and its mirror: 0.7 ms a face here instead of 12."""
    square = np.asarray(Image.fromarray(rgb).convert("L").resize((32, 32), Image.Resampling.LANCZOS))
    phash, mirror = dct_hashes(np.stack([square, square[:, ::-1]]))
    return {"sha256": pixel_sha256(rgb), "phash": f"{phash:016x}", "phash_mirror": f"{mirror:016x}"}


_PNG = [
    cv2.IMWRITE_PNG_COMPRESSION, 1,
    cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
    cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH,
]  # fmt: skip


def save_png(rgb: np.ndarray, path: Path) -> None:
    """PNG is lossless, so the pixels hashed are the pixels every later stage reads. OpenCV's
    encoder at zlib level 1, run-length strategy and the Paeth filter: on the UTKFace sample
    the files come out 8% smaller than Pillow's at level 1, in half the time (1.7 ms a 200 px
    face instead of 3.4), and writing is a fifth of the synthesize stage's work."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    ok, encoded = cv2.imencode(".png", pixels, _PNG)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} {rgb.dtype} array as PNG")
    tmp.write_bytes(encoded.tobytes())
    tmp.replace(path)
