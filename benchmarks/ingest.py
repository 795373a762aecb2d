"""Ingest throughput and memory on real photos (../shared/data):

- the 125-photo Kaggle VOC sample (661 boxes), with 1 and 2 workers;
- the same photos copied `--copies` times under new names (a few thousand faces), 2 workers,
  to show throughput holds and memory stays flat as the input grows;
- face detection on whole photos (the demo's two photos), dlib HOG vs CNN.

    python benchmarks/ingest.py [--copies 8]

Prints a Markdown table; paste it into benchmarks/README.md with the date.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.demo import build_demo  # noqa: E402
from pipeline.ingest import IngestConfig, ingest_source  # noqa: E402
from pipeline.sources import load_catalog  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "kaggle-face-mask-detection-sample"
CATALOG = load_catalog(ROOT / "datasets" / "sources.yaml")


def copies_of_sample(into: Path, copies: int) -> Path:
    """The sample `copies` times over, each photo and its XML under a new name."""
    for sub in ("images", "annotations"):
        (into / sub).mkdir(parents=True)
    for i in range(copies):
        for png in sorted((SAMPLE / "images").glob("*.png")):
            shutil.copyfile(png, into / "images" / f"c{i}_{png.name}")
            xml = (SAMPLE / "annotations" / f"{png.stem}.xml").read_text()
            xml = xml.replace(f"<filename>{png.name}<", f"<filename>c{i}_{png.name}<")
            (into / "annotations" / f"c{i}_{png.stem}.xml").write_text(xml)
    return into


def run(name: str, source, root: Path, config: IngestConfig, out: Path) -> tuple:
    start = time.perf_counter()
    kept, rejected = ingest_source(source, root, config, out)
    seconds = time.perf_counter() - start
    photos = kept["origin"].nunique()
    return (name, config.workers, photos, len(kept), len(rejected), seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=8)
    args = parser.parse_args()
    if not SAMPLE.is_dir():
        sys.exit(f"needs the real sample at {SAMPLE} (see ../shared/data/README.md)")
    voc = CATALOG["kaggle_face_mask_detection"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run("warm-up (file cache, imports)", voc, SAMPLE, IngestConfig(workers=2), tmp / "w")
        for workers in (1, 2):
            rows.append(run("VOC sample", voc, SAMPLE, IngestConfig(workers=workers), tmp / f"s{workers}"))
        big = copies_of_sample(tmp / "big", args.copies)
        rows.append(run(f"VOC sample x{args.copies}", voc, big, IngestConfig(workers=2), tmp / "b"))
        rss = peak_rss()
        build_demo(tmp / "demo", lfw_faces=1)
        for detector in ("hog", "cnn"):
            config = IngestConfig(workers=1, detector=detector)
            name = f"demo: 1 crop + 2 photos, {detector} detector"
            rows.append(run(name, CATALOG["demo"], tmp / "demo", config, tmp / detector))
    print("| input | workers | photos | faces kept | rejected | seconds | faces/s |")
    print("|---|---|---|---|---|---|---|")
    for name, workers, photos, kept, rejected, s in rows:
        print(f"| {name} | {workers} | {photos} | {kept} | {rejected} | {s:.2f} | {kept / s:.0f} |")
    print(f"\npeak RSS over the VOC runs: {rss}; after the detector runs too: {peak_rss()}")


def peak_rss() -> str:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return f"this process {own:.0f} MB, largest worker {workers:.0f} MB"


if __name__ == "__main__":
    main()
