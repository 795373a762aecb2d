"""A corpus of hostile and awkward image files, built on the fly, with what ingest must say.

Shared by the ingest tests and (later) the robustness suite: each entry is a file name under
the corpus folder and the rejection reason expected for it, or None when the file is a good
face that must survive beside the bad ones.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _encoded(rgb: np.ndarray, fmt: str, **args) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **args)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height over a few bytes of data: a decompression
    bomb as a decoder meets it, without building the huge image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def build_corpus(folder: Path, face: np.ndarray) -> dict[str, str | None]:
    """Write the corpus into `folder` (RGB uint8 `face` at least 64x64 is the good content);
    return {relative name: expected reason or None}."""
    folder.mkdir(parents=True, exist_ok=True)
    h, w = face.shape[:2]
    grey = np.asarray(Image.fromarray(face).convert("L"))
    expected: dict[str, str | None] = {}

    def put(name: str, data: bytes, reason: str | None) -> None:
        (folder / name).write_bytes(data)
        expected[name] = reason

    jpeg = _encoded(face, "JPEG", quality=90)
    png = _encoded(face, "PNG")
    # bad files
    put("empty.jpg", b"", "empty_file")
    put("truncated.jpg", jpeg[: len(jpeg) // 2], "truncated")
    put("truncated.png", png[: len(png) // 2], "truncated")
    put("notes.jpg", b"just some text, saved with the wrong extension\n", "not_an_image")
    put("page.jpg", b"<!doctype html><html><body>404 Not Found</body></html>", "not_an_image")
    put("readme.txt", b"not a picture", "not_an_image")
    put("png_named.jpg", png, "wrong_extension")
    put("bomb.png", png_header_only(20_000, 20_000), "too_large")
    frames = [Image.fromarray(face), Image.fromarray(255 - face)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    put("animated.gif", buf.getvalue(), "animated")
    os.symlink("nowhere.jpg", folder / "dangling.jpg")
    expected["dangling.jpg"] = "unreadable"
    os.symlink(".", folder / "loop")
    expected["loop"] = "symlinked_folder"

    # awkward but good files
    def save(name: str, im: Image.Image, **args) -> None:
        im.save(folder / name, **args)
        expected[name] = None

    save("plain.jpg", Image.fromarray(face), quality=90)
    save("cmyk.jpg", Image.fromarray(face).convert("CMYK"))
    save("grey16.png", Image.fromarray(grey.astype(np.uint16) * 257))
    save("palette_alpha.png", Image.fromarray(face).quantize(64), transparency=0)
    save("rgba.png", Image.fromarray(np.dstack([face, np.full((h, w), 128, np.uint8)])))
    save("bilevel.png", Image.fromarray(grey).convert("1"))
    save("float.tif", Image.fromarray(grey.astype(np.float32)))
    save("photo.webp", Image.fromarray(face))
    save("photo.tiff", Image.fromarray(face))
    save("still.gif", Image.fromarray(face))
    save("one_pixel.png", Image.fromarray(face[:1, :1]))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers rotate it 90 degrees clockwise
    save("exif_rotated.jpg", Image.fromarray(np.ascontiguousarray(np.rot90(face))), exif=exif, quality=95)
    put("naïve façade 1.png", png, None)
    put("日本 語.jpg", jpeg, None)
    return expected
