import numpy as np
import pytest

from pipeline.filters import FilterConfig, apply_filters
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
    with pytest.raises(ValueError, match="unknown filter checks"):
        FilterConfig(checks=("sharpness",))


def test_undecodable_face_is_rejected_not_crashed(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    kept, rejected = apply_filters(manifest([path]), FilterConfig(workers=1))
    assert kept.empty and rejected["reason"].item() in {"decode_error", "truncated", "not_an_image"}
