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
from collections.abc import Sequence
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


def build_corpus(
    folder: Path, face: np.ndarray, good_faces: Sequence[np.ndarray] = ()
) -> dict[str, str | None]:
    """Write the corpus into `folder` (RGB uint8 `face` at least 64x64 is the good content);
    return {relative name: expected reason or None}. With `good_faces`, each good file
    holds the next of them instead of `face`, so they are not duplicates of each other."""
    faces = iter(good_faces)
    folder.mkdir(parents=True, exist_ok=True)
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
    put("zero.png", png[:16] + bytes(8) + png[24:], "zero_size")  # a PNG declaring 0x0 pixels
    frames = [Image.fromarray(face), Image.fromarray(255 - face)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    put("animated.gif", buf.getvalue(), "animated")
    os.symlink("nowhere.jpg", folder / "dangling.jpg")
    expected["dangling.jpg"] = "unreadable"
    os.symlink(".", folder / "loop")
    expected["loop"] = "symlinked_folder"

    # awkward but good files
    def save(name: str, convert, **args) -> None:
        rgb = next(faces, face)
        grey = np.asarray(Image.fromarray(rgb).convert("L"))
        convert(rgb, grey).save(folder / name, **args)
        expected[name] = None

    save("plain.jpg", lambda rgb, _: Image.fromarray(rgb), quality=90)
    save("cmyk.jpg", lambda rgb, _: Image.fromarray(rgb).convert("CMYK"))
    save("grey16.png", lambda _, grey: Image.fromarray(grey.astype(np.uint16) * 257))
    save("palette_alpha.png", lambda rgb, _: Image.fromarray(rgb).quantize(64), transparency=0)
    save("rgba.png", lambda rgb, _: Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])))
    save("bilevel.png", lambda _, grey: Image.fromarray(grey).convert("1"))
    save("float.tif", lambda _, grey: Image.fromarray(grey.astype(np.float32)))
    save("photo.webp", lambda rgb, _: Image.fromarray(rgb))
    save("photo.tiff", lambda rgb, _: Image.fromarray(rgb))
    save("still.gif", lambda rgb, _: Image.fromarray(rgb))
    save("one_pixel.png", lambda rgb, _: Image.fromarray(rgb[:1, :1]))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers rotate it 90 degrees clockwise
    sideways = lambda rgb, _: Image.fromarray(np.ascontiguousarray(np.rot90(rgb)))  # noqa: E731
    save("exif_rotated.jpg", sideways, exif=exif, quality=95)
    save("naïve façade 1.png", lambda rgb, _: Image.fromarray(rgb))
    save("日本 語.jpg", lambda rgb, _: Image.fromarray(rgb), quality=90)
    return expected
