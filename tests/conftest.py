"""Shared fixtures: real photos from ../shared/data (skipped when absent) and tiny builders."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from PIL import Image

from pipeline.manifest import new_manifest

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")


def _remove_database(directory: str) -> None:
    """Stop the mongod serving `directory`, then delete it: each session's database is about
    300 MB, and a hundred sessions left behind fill a disk."""
    for process in psutil.process_iter(["cmdline"]):
        if directory in (process.info["cmdline"] or []):
            process.terminate()
            try:
                process.wait(timeout=30)
            except psutil.Error:
                process.kill()
    shutil.rmtree(directory, ignore_errors=True)


# the tests' own FiftyOne database, shared with the `maskset app` they start, never the user's;
# registered before FiftyOne is imported, so it runs after FiftyOne's own exit handlers
if "FIFTYONE_DATABASE_DIR" not in os.environ:
    os.environ["FIFTYONE_DATABASE_DIR"] = tempfile.mkdtemp(prefix="maskset-tests-fiftyone-")
    atexit.register(_remove_database, os.environ["FIFTYONE_DATABASE_DIR"])

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


def toy_manifest(folder: Path, n: int, draw) -> pd.DataFrame:
    """n split toy faces, alternately no_mask and mask; `draw(label)` makes each image.
    Splits cycle train, train, train, val, test."""
    rows = []
    for i in range(n):
        label = "mask" if i % 2 else "no_mask"
        path = write_image(folder / f"{i}.png", draw(label))
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


@pytest.fixture
def separable(tmp_path, rng):
    """Bright faces are masked, dark ones are not: a toy set any model must learn."""

    def draw(label: str) -> np.ndarray:
        base = 200 if label == "mask" else 50
        return np.clip(base + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)

    return toy_manifest(tmp_path, 60, draw)


@pytest.fixture(scope="module")
def utk_sample_manifest():
    """The first 20 UTKFace sample faces as a split manifest, for module-scoped fixtures."""
    return _split_manifest(sorted(_require(UTK_SAMPLE).glob("*.jpg")))


@pytest.fixture
def split_manifest(utk_faces):
    return _split_manifest(utk_faces)


def _split_manifest(utk_faces: list[Path]) -> pd.DataFrame:
    rows = []
    for i, p in enumerate(utk_faces[:20]):
        rows.append(
            {
                "id": f"r{i}",
                "source": "utk",
                "origin": p.name,
                "path": str(p),
                "label": "mask" if i % 2 else "no_mask",
                "group": f"g{i}",
                "synthetic": bool(i % 4 == 1),
                "split": "test" if i < 12 else "train",
            }
        )
    return new_manifest(rows)
