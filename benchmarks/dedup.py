"""Near-duplicate detection on real faces: maskset's two-step dedup vs imagededup's PHash.

Distinct faces: the Kaggle VOC sample's crops (shorter side >= 40 px; the twin photo
maksssksksss428 left out), the 60 UTKFace crops and the demo's 100 LFW faces (aligned, the
hard case). Every distinct face gets six edited copies: JPEG quality 70, half size, 5% crop
per side, 5% corner crop, +20% brightness, horizontal flip. Prints recall per edit (copy found
with its original) and the precision of all reported duplicate pairs, for both tools, and
the time each takes (decode + hash + search, and for maskset verification).

    pip install --no-deps imagededup     # benchmark only; not a maskset dependency
    python benchmarks/dedup.py

Paste the table into benchmarks/README.md with the date.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.dedup import DedupConfig, dedup  # noqa: E402
from pipeline.demo import build_demo  # noqa: E402
from pipeline.images import content_hashes, load_rgb  # noqa: E402
from pipeline.ingest import IngestConfig, ingest_source  # noqa: E402
from pipeline.manifest import new_manifest  # noqa: E402
from pipeline.sources import load_catalog  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
EDITS = ("jpeg70", "half", "crop5", "corner5", "bright20", "flip")
# beyond the six: crops smaller and larger than the 5% views dedup hashes
MORE_EDITS = ("crop2", "crop8", "crop10", "corner10")
RUNS = 3


def edit(im: Image.Image, name: str) -> Image.Image:
    w, h = im.size
    if name == "jpeg70":
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=70)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if name == "half":
        return im.resize((max(1, w // 2), max(1, h // 2)), Image.LANCZOS)
    if name.startswith("crop"):
        f = int(name[4:]) / 100
        return im.crop((round(w * f), round(h * f), round(w * (1 - f)), round(h * (1 - f))))
    if name.startswith("corner"):
        f = int(name[6:]) / 100
        return im.crop((round(w * f), round(h * f), w, h))
    if name == "bright20":
        return ImageEnhance.Brightness(im).enhance(1.2)
    return im.transpose(Image.FLIP_LEFT_RIGHT)


def distinct_faces(tmp: Path) -> list[Image.Image]:
    catalog = load_catalog(ROOT / "datasets" / "sources.yaml")
    voc, _ = ingest_source(
        catalog["kaggle_face_mask_detection"],
        SHARED / "kaggle-face-mask-detection-sample",
        IngestConfig(min_face=40),
        tmp / "voc",
    )
    voc = voc[~voc["origin"].str.contains("maksssksksss428")]
    faces = [Image.fromarray(load_rgb(tmp / p)) for p in voc["path"]]
    faces += [Image.open(p).convert("RGB") for p in sorted((SHARED / "utkface-sample").glob("*.jpg"))]
    build_demo(tmp / "demo", lfw_faces=100)
    faces += [Image.open(p).convert("RGB") for p in sorted((tmp / "demo" / "faces").rglob("*.png"))]
    return faces


def write_corpus(faces: list[Image.Image], folder: Path) -> pd.DataFrame:
    """Each face and its edits as PNG files; `origin` names the distinct face each came from."""
    folder.mkdir(parents=True)
    rows = []
    for i, face in enumerate(faces):
        for name in ("orig", *EDITS, *MORE_EDITS):
            im = face if name == "orig" else edit(face, name)
            path = folder / f"f{i:04d}_{name}.png"
            im.save(path)
            rgb = np.asarray(im)
            rows.append(
                {
                    "id": path.stem,
                    "source": "bench",
                    "origin": f"f{i:04d}",
                    "path": str(path),
                    "width": rgb.shape[1],
                    "height": rgb.shape[0],
                    "label": "no_mask",
                    "group": path.stem,
                    "synthetic": False,
                    **content_hashes(rgb),
                }
            )
    return new_manifest(rows)


def score(name: str, pairs: set[tuple[str, str]], seconds: list[float], truth: pd.DataFrame) -> list[str]:
    origin = dict(zip(truth["id"], truth["origin"], strict=True))
    recall = []
    for e in (*EDITS, *MORE_EDITS):
        found = sum(
            1
            for o in truth.loc[truth["id"].str.endswith("_orig"), "origin"]
            if tuple(sorted((f"{o}_orig", f"{o}_{e}"))) in pairs
        )
        recall.append(found / truth["origin"].nunique())
    true = sum(origin[a] == origin[b] for a, b in pairs)
    precision = true / len(pairs) if pairs else 1.0
    cells = " | ".join(f"{r:.2f}" for r in recall)
    runs = " / ".join(f"{t:.1f}" for t in seconds)
    return [f"| {name} | {cells} | {precision:.3f} ({len(pairs) - true} false of {len(pairs)}) | {runs} |"]


def run_maskset(truth: pd.DataFrame) -> tuple[set[tuple[str, str]], float]:
    start = time.perf_counter()
    _, rejected = dedup(truth, DedupConfig(workers=2))
    seconds = time.perf_counter() - start
    rep = dict(zip(rejected["id"], rejected["duplicate_of"], strict=True))
    cluster = {i: rep.get(i, i) for i in truth["id"]}
    members = pd.Series(list(cluster)).groupby(pd.Series(list(cluster.values())))
    return {tuple(sorted(p)) for _, ids in members for p in combinations(list(ids), 2)}, seconds


def run_imagededup(folder: Path) -> tuple[set[tuple[str, str]], float]:
    from imagededup.methods import PHash

    start = time.perf_counter()
    hasher = PHash(verbose=False)
    encodings = hasher.encode_images(image_dir=str(folder), num_enc_workers=2)
    found = hasher.find_duplicates(encoding_map=encodings, max_distance_threshold=10, num_dist_workers=2)
    seconds = time.perf_counter() - start
    return {tuple(sorted((Path(a).stem, Path(b).stem))) for a, dups in found.items() for b in dups}, seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        faces = distinct_faces(tmp)
        truth = write_corpus(faces, tmp / "corpus")
        print(f"{len(faces)} distinct faces, {len(truth)} images\n")
        edits = (*EDITS, *MORE_EDITS)
        lines = ["| method | " + " | ".join(edits) + " | precision (pairs) | seconds |"]
        lines.append("|---" * (len(edits) + 3) + "|")
        have_imagededup = importlib.util.find_spec("imagededup") is not None
        times: dict[str, list[float]] = {"maskset": [], "imagededup": []}
        for _ in range(RUNS):  # alternating, so a change in the machine's load hits both
            ours, seconds = run_maskset(truth)
            times["maskset"].append(seconds)
            if have_imagededup:
                theirs, seconds = run_imagededup(tmp / "corpus")
                times["imagededup"].append(seconds)
        lines += score("maskset dedup (defaults)", ours, times["maskset"], truth)
        if not have_imagededup:
            lines.append("| imagededup PHash | not installed: pip install --no-deps imagededup |")
        else:
            lines += score("imagededup PHash, threshold 10", theirs, times["imagededup"], truth)
        print("\n".join(lines))


if __name__ == "__main__":
    main()
