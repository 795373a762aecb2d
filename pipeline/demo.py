"""The offline demo source: real face photos that installed packages ship.

No package ships masked faces, so the demo is unmasked faces only; `synthesize` masks some.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from matplotlib import cbook
from PIL import Image
from skimage import data as skdata

LFW_FACES_AVAILABLE = 100  # lfw_subset(): the first 100 arrays are faces, the rest are not


def build_demo(target: Path, lfw_faces: int = 100, face_size: int = 100) -> dict[str, int]:
    """Write the demo source under `target` in the catalog's layout; return file counts."""
    if not 0 < lfw_faces <= LFW_FACES_AVAILABLE:
        raise ValueError(f"lfw_faces must be in 1..{LFW_FACES_AVAILABLE}, got {lfw_faces}")
    faces = target / "faces" / "no_mask"
    photos = target / "photos" / "no_mask"
    faces.mkdir(parents=True)
    photos.mkdir(parents=True)
    lfw = skdata.lfw_subset()[:lfw_faces]
    for i, arr in enumerate(lfw):
        grey = Image.fromarray((np.clip(arr, 0, 1) * 255).round().astype(np.uint8), mode="L")
        grey.resize((face_size, face_size), Image.Resampling.LANCZOS).save(faces / f"lfw_{i:03d}.png")
    Image.fromarray(skdata.astronaut()).save(photos / "astronaut.png")
    shutil.copyfile(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), photos / "grace_hopper.jpg")
    return {"faces": lfw_faces, "photos": 2}
