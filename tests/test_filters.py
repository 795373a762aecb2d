import numpy as np
import pytest

from pipeline.filters import FilterConfig, apply_filters, filter_report
from pipeline.manifest import new_manifest
from tests.conftest import write_image


def manifest(paths):
    return new_manifest(
        {
            "id": p.stem,
            "source": "s",
            "origin": p.name,
            "path": str(p),
            "label": "no_mask",
            "group": p.stem,
            "synthetic": False,
        }
        for p in paths
    )


def test_each_anomaly_gets_its_reason_and_real_faces_pass(tmp_path, utk_faces, rng):
    noise = rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)
    bad = {
        "tiny": write_image(tmp_path / "tiny.png", noise[:10, :10]),
        "wide": write_image(tmp_path / "wide.png", rng.integers(0, 255, (40, 200, 3), dtype=np.uint8)),
        "black": write_image(tmp_path / "black.png", np.full((64, 64, 3), 2, np.uint8)),
        "flat": write_image(tmp_path / "flat.png", np.full((64, 64, 3), 128, np.uint8)),
    }
    kept, rejected = apply_filters(manifest([*bad.values(), *utk_faces[:10]]), FilterConfig(workers=1))
    reasons = dict(zip(rejected["id"], rejected["reason"], strict=True))
    assert reasons["tiny"] == "min_size" and reasons["black"] == "brightness"
    assert reasons["wide"] == "aspect_ratio"
    assert reasons["flat"] == "blur"  # uniform: no edges at all
    assert "mean_rgb=(2,2,2)" in rejected.set_index("id").at["black", "detail"]
    assert len(kept) == 10


def test_checks_are_chosen_by_name(tmp_path):
    path = write_image(tmp_path / "black.png", np.zeros((64, 64, 3), np.uint8))
    kept, rejected = apply_filters(manifest([path]), FilterConfig(checks=("min_size",), workers=1))
    assert len(kept) == 1 and rejected.empty
    report = filter_report(kept, rejected, FilterConfig(checks=("min_size", "blur"), blur=12.0))
    assert report["checks"] == {"min_size": 32, "blur": 12.0}
    assert "brightness" in report["switched_off"] and "blur" not in report["switched_off"]
    from pipeline.config import parse
    from pipeline.errors import ParamsError

    with pytest.raises(ParamsError, match=r"`filter.checks\[0\]` must be one of 'min_size'"):
        parse(FilterConfig, {"checks": ["sharpness"]}, "filter")


def test_undecodable_face_is_rejected_not_crashed(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    kept, rejected = apply_filters(manifest([path]), FilterConfig(workers=1))
    assert kept.empty and rejected["reason"].item() in {"decode_error", "truncated", "not_an_image"}


def test_blur_is_judged_at_one_size_whatever_the_face_size(tmp_path, utk_faces):
    from PIL import Image, ImageFilter

    face = Image.open(utk_faces[0])
    paths = []
    for side in (64, 200, 800):
        sized = face.resize((side, side), Image.LANCZOS)
        paths.append(write_image(tmp_path / f"sharp{side}.png", np.asarray(sized)))
        blurred = sized.filter(ImageFilter.GaussianBlur(side / 40))
        paths.append(write_image(tmp_path / f"blurred{side}.png", np.asarray(blurred)))
    config = FilterConfig(checks=("blur",), workers=1)
    kept, rejected = apply_filters(manifest(paths), config)
    assert sorted(kept["id"]) == ["sharp200", "sharp64", "sharp800"]
    assert sorted(rejected["id"]) == ["blurred200", "blurred64", "blurred800"]
    assert rejected["detail"].str.contains("at 128px").all()


def test_grey_pictures_are_flagged_and_colour_faces_kept(tmp_path, utk_faces):
    from PIL import Image

    grey = np.asarray(Image.open(utk_faces[1]).convert("L").convert("RGB"))
    paths = [write_image(tmp_path / "grey.png", grey), utk_faces[1]]
    kept, rejected = apply_filters(manifest(paths), FilterConfig(checks=("grayscale",), workers=1))
    assert list(rejected["id"]) == ["grey"] and rejected["reason"].item() == "grayscale"
    assert len(kept) == 1


def test_odd_sizes_are_judged_within_each_source(tmp_path, rng):
    def face(name, side):
        return write_image(tmp_path / f"{name}.png", rng.integers(0, 255, (side, side, 3), dtype=np.uint8))

    sides = {f"a{i}": 100 + i for i in range(10)} | {"a_huge": 1000, "a_small": 30}
    sides |= {f"b{i}": 1000 + 10 * i for i in range(5)}  # another source, all large: nothing odd
    df = manifest([face(n, s) for n, s in sides.items()])
    df["source"] = df["id"].str[0]
    df["width"] = df["height"] = df["id"].map(sides)
    kept, rejected = apply_filters(df, FilterConfig(checks=("odd_size",), workers=1))
    assert sorted(rejected["id"]) == ["a_huge"]  # 30 px is 3.4x smaller: within the factor 4
    assert len(kept) == len(df) - 1
    assert rejected["detail"].str.match(r"size=9\.\d\dx the source's median face").all()
    uniform = df[df["source"] == "b"]
    assert apply_filters(uniform, FilterConfig(checks=("odd_size",), workers=1))[1].empty
