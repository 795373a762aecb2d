import io

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageOps

from pipeline.images import ImageRejected, content_hashes, load_rgb, pixel_sha256, save_png
from tests.conftest import write_image


@pytest.fixture
def face(rng):
    return rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)


def test_exif_rotation_is_applied(tmp_path, face):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = write_image(tmp_path / "r.jpg", face, exif=exif, quality=95)
    assert load_rgb(path).shape == (30, 40, 3)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16"])
def test_odd_colour_modes_become_rgb(tmp_path, face, mode):
    im = Image.fromarray(face)
    if mode == "I;16":
        im = Image.fromarray(np.asarray(im.convert("L")).astype(np.uint16) * 257)
    else:
        im = im.convert(mode)
    ext = "jpg" if mode == "CMYK" else "png"
    path = tmp_path / f"x.{ext}"
    im.save(path)
    out = load_rgb(path)
    assert out.dtype == np.uint8 and out.shape == (40, 30, 3)


@pytest.mark.parametrize(
    ("name", "payload", "reason"),
    [
        ("empty.jpg", b"", "empty_file"),
        ("text.jpg", b"<html>not an image</html>", "not_an_image"),
    ],
)
def test_bad_bytes_are_rejected_with_a_reason(tmp_path, name, payload, reason):
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(ImageRejected) as err:
        load_rgb(path)
    assert err.value.reason == reason


def test_truncated_jpeg_is_rejected(tmp_path, face):
    buf = io.BytesIO()
    Image.fromarray(np.kron(face, np.ones((8, 8, 1), dtype=np.uint8))).save(buf, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageRejected) as err:
        load_rgb(path)
    assert err.value.reason in {"truncated", "decode_error"}


def test_png_named_jpg_is_rejected(tmp_path, face):
    path = write_image(tmp_path / "fake.jpg", face, format="PNG")
    with pytest.raises(ImageRejected, match=r"PNG data in a \.jpg file"):
        load_rgb(path)


def test_oversized_image_is_rejected_before_decoding(tmp_path):
    path = write_image(tmp_path / "big.png", np.zeros((300, 300, 3), dtype=np.uint8))
    with pytest.raises(ImageRejected) as err:
        load_rgb(path, max_pixels=10_000)
    assert err.value.reason == "too_large"


def _zero_size(fmt: str) -> bytes:
    """A real header of `fmt` whose declared size is patched to 0x0."""
    buf = io.BytesIO()
    Image.new("RGB", (3, 2), "red").save(buf, fmt)
    data = bytearray(buf.getvalue())
    if fmt == "PNG":
        data[16:24] = bytes(8)
    elif fmt == "BMP":
        data[18:26] = bytes(8)
    else:
        sof = data.find(b"\xff\xc0")
        data[sof + 5 : sof + 9] = bytes(4)
    return bytes(data)


@pytest.mark.parametrize("fmt,ext", [("PNG", ".png"), ("JPEG", ".jpg"), ("BMP", ".bmp")])
def test_a_header_declaring_no_pixels_is_zero_size_not_not_an_image(tmp_path, fmt, ext):
    path = tmp_path / f"empty{ext}"
    path.write_bytes(_zero_size(fmt))
    with pytest.raises(ImageRejected) as err:
        load_rgb(path)
    assert err.value.reason == "zero_size" and err.value.detail == f"{fmt} header declares 0x0 pixels"


def test_animated_gif_is_rejected(tmp_path, face):
    frames = [Image.fromarray(face), Image.fromarray(255 - face)]
    path = tmp_path / "a.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(ImageRejected) as err:
        load_rgb(path)
    assert err.value.reason == "animated"


def test_pixel_hash_ignores_file_format_but_not_content(tmp_path, face):
    a = load_rgb(write_image(tmp_path / "a.png", face))
    b = load_rgb(write_image(tmp_path / "b.bmp", face))
    assert content_hashes(a)["sha256"] == content_hashes(b)["sha256"]
    changed = face.copy()
    changed[0, 0, 0] ^= 1
    assert content_hashes(changed)["sha256"] != content_hashes(face)["sha256"]


def test_mirror_phash_is_the_phash_of_the_flipped_image(utk_faces):
    rgb = load_rgb(utk_faces[0])
    assert content_hashes(rgb)["phash_mirror"] == content_hashes(rgb[:, ::-1].copy())["phash"]


def test_phashes_are_bit_for_bit_imagehash(utk_faces, rng):
    faces = [load_rgb(p) for p in utk_faces[:20]]
    faces += [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((7, 300), (64, 64), (257, 129))]
    for rgb in faces:
        im = Image.fromarray(rgb)
        hashes = content_hashes(rgb)
        assert hashes["phash"] == str(imagehash.phash(im))
        assert hashes["phash_mirror"] == str(imagehash.phash(ImageOps.mirror(im)))


def test_save_png_keeps_every_pixel_and_the_channel_order(tmp_path, face):
    """The manifest's sha256 is of the pixels written, so the encoder must be lossless and
    must not swap red and blue (OpenCV's own order is BGR)."""
    face[0, 0] = (255, 0, 0)
    save_png(face, tmp_path / "a" / "face.png")
    back = load_rgb(tmp_path / "a" / "face.png")
    assert tuple(back[0, 0]) == (255, 0, 0)
    assert pixel_sha256(back) == pixel_sha256(face)
    grey = face[..., 1].copy()
    save_png(grey, tmp_path / "a" / "grey.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a" / "grey.png")), grey)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["face.png", "grey.png"]  # no temp files
