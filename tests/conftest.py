"""Shared fixtures: real photos from ../shared/data (skipped when absent) and tiny builders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.manifest import new_manifest

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
VOC_SAMPLE = SHARED / "kaggle-face-mask-detection-sample"
UTK_SAMPLE = SHARED / "utkface-sample"


def _require(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"real sample data not found at {path} (see ../shared/data/README.md)")
    return path


@pytest.fixture
def voc_sample() -> Path:
    return _require(VOC_SAMPLE)


@pytest.fixture
def utk_faces() -> list[Path]:
    return sorted(_require(UTK_SAMPLE).glob("*.jpg"))


def write_image(path: Path, rgb: np.ndarray, **save_args) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **save_args)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def separable(tmp_path, rng):
    """Bright faces are masked, dark ones are not: a toy set any model must learn."""
    rows = []
    for i in range(60):
        label = "mask" if i % 2 else "no_mask"
        base = 200 if label == "mask" else 50
        img = np.clip(base + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
        path = write_image(tmp_path / f"{i}.png", img)
        rows.append(
            {
                "id": f"r{i}",
                "source": "toy",
                "origin": path.name,
                "path": str(path),
                "label": label,
                "group": f"g{i}",
                "synthetic": False,
                "split": ["train", "train", "train", "val", "test"][i % 5],
            }
        )
    return new_manifest(rows)
