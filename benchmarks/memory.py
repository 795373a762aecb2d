"""Peak memory and time of every stage on a 20,000-face run (issue 11: stay under 2 GB).

The faces are real: the 660 UTKFace faces and the Kaggle VOC sample's annotated boxes,
each varied many times (random crop, scale, small rotation, brightness and colour,
mirror, JPEG quality) into distinct files in with_mask/ without_mask/
mask_weared_incorrect/ folders, read in place by the catalog's `local` source. Dedup
verifies no near duplicate (verify_ncc 1.0) so that all of them reach every later stage. Each stage
runs as its real script in a copy of the project; a sampler adds up the proportional set
size (PSS, so pages the worker processes share with their parent count once) of the stage
and all its workers every 0.25 s.

    python benchmarks/memory.py [--images 20000] [--keep DIR]

Prints a Markdown table; paste it into benchmarks/README.md with the date.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.ingest import IngestConfig, ingest_source  # noqa: E402
from pipeline.sources import load_catalog  # noqa: E402
from tests.project import ENV, copy_project, stage_command  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
FOLDER_OF = {"mask": "with_mask", "no_mask": "without_mask", "incorrect_mask": "mask_weared_incorrect"}
STAGES = [
    ("download", "local"),
    ("ingest",),
    ("dedup",),
    ("filter",),
    ("landmarks",),
    ("synthesize",),
    ("split",),
    ("train", "simple_cnn"),
    ("evaluate", "simple_cnn"),
]


def base_faces(tmp: Path) -> list[tuple[Image.Image, str]]:
    """(face, label) for every real face of the shared samples but real-masked-dev (the
    sim-to-real test set): 904 faces."""
    unmasked = sorted((SHARED / "utkface-sample").glob("*")) + sorted((SHARED / "utkface-600").glob("*.jpg"))
    faces = [(Image.open(p).convert("RGB"), "no_mask") for p in unmasked]
    catalog = load_catalog(ROOT / "datasets" / "sources.yaml")
    source = catalog["kaggle_face_mask_detection"]
    sample = SHARED / "kaggle-face-mask-detection-sample"
    voc, _ = ingest_source(source, sample, IngestConfig(min_face=32), tmp)
    faces += [(Image.open(row.path).convert("RGB"), row.label) for row in voc.itertuples()]
    return faces


def variant(face: Image.Image, rng: np.random.Generator) -> Image.Image:
    """One distinct face from a real one. The changes are as large as a face survives (up to a
    quarter cropped a side, 15 degrees, contrast): milder ones made every base face a cluster
    of near-identical pHashes, and dedup's candidate pairs grow with the square of a cluster
    (at 100,000 faces, 49 a face instead of about 1)."""
    w, h = face.size
    left, top = rng.uniform(0, 0.25, 2) * (w, h)
    right, bottom = (1 - rng.uniform(0, 0.25, 2)) * (w, h)
    out = face.crop((int(left), int(top), int(right), int(bottom)))
    out = out.rotate(
        float(rng.uniform(-15, 15)), resample=Image.Resampling.BILINEAR, expand=bool(rng.random() < 0.5)
    )
    side = int(rng.integers(96, 260))
    out = out.resize((side, int(side * out.height / out.width)), Image.Resampling.LANCZOS)
    out = ImageEnhance.Brightness(out).enhance(float(rng.uniform(0.6, 1.4)))
    out = ImageEnhance.Contrast(out).enhance(float(rng.uniform(0.7, 1.3)))
    out = ImageEnhance.Color(out).enhance(float(rng.uniform(0.5, 1.5)))
    return out.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else out


def write_faces(into: Path, n: int, tmp: Path) -> dict[str, int]:
    rng = np.random.default_rng(0)
    faces = base_faces(tmp)
    counts: dict[str, int] = {}
    for folder in FOLDER_OF.values():
        (into / folder).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        face, label = faces[int(rng.integers(len(faces)))]
        buf = io.BytesIO()
        variant(face, rng).save(buf, "JPEG", quality=int(rng.integers(70, 96)))
        (into / FOLDER_OF[label] / f"{i:05d}.jpg").write_bytes(buf.getvalue())
        counts[label] = counts.get(label, 0) + 1
    return counts


def faces_project(work: Path, n: int, **params: dict) -> Path:
    """`n` faces in work/faces, read in place by the `local` source of a project copy in
    work/project (`params` merged into its params.yaml)."""
    counts = write_faces(work / "faces", n, work / "voc")
    print(f"faces per label: {counts}", flush=True)
    return copy_project(
        work / "project",
        sources=["local"],
        models=["simple_cnn"],
        download={"local": {"path": str(work / "faces")}},
        # the faces are variants of ~700 real ones, and dedup would rightly drop most of
        # them; it still fingerprints and searches all, but verifies none as a copy, so
        # every stage after it sees all of them too
        dedup={"verify_ncc": 1.0},
        synthesize={"sources": ["local"]},
        **params,
    )


class PeakMemory(threading.Thread):
    """Peak summed PSS of a process and its descendants, and the largest single RSS."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.pss = self.rss = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            pss, rss = 0, 0
            for proc in procs:
                try:
                    info = proc.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                pss += info.pss
                rss = max(rss, info.rss)
            self.pss, self.rss = max(self.pss, pss), max(self.rss, rss)


def run_stage(repo: Path, args: tuple[str, ...]) -> tuple[float, int, int, str]:
    started = time.perf_counter()
    process = subprocess.Popen(stage_command(*args), cwd=repo, env=ENV, stdout=subprocess.PIPE, text=True)
    sampler = PeakMemory(process.pid)
    sampler.start()
    out, _ = process.communicate()
    sampler.done.set()
    sampler.join()
    if process.returncode:
        sys.exit(f"{args} failed with exit {process.returncode}")
    summary = next((line for line in out.splitlines() if line.startswith(f"{args[0]}")), "")
    return time.perf_counter() - started, sampler.pss, sampler.rss, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temp dir)")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs the real sample at {SHARED} (see ../shared/data/README.md)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="maskset-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        repo = faces_project(
            work, args.images, train={"models": {"simple_cnn": {"epochs": 1, "grayscale": False}}}
        )
        print(f"wrote {args.images} faces in {time.perf_counter() - started:.0f} s", flush=True)
        print("| stage | seconds | peak PSS, stage + workers (MB) | largest single RSS (MB) | summary |")
        print("|---|---:|---:|---:|---|")
        for stage in STAGES:
            seconds, pss, rss, summary = run_stage(repo, stage)
            row = ["@".join(stage), f"{seconds:.0f}", f"{pss / 2**20:.0f}", f"{rss / 2**20:.0f}", summary]
            print("| " + " | ".join(row) + " |", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
