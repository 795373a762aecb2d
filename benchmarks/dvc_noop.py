"""What a no-op `dvc repro` costs for the folders of faces a large build tracks, what
`split.imagefolder: false` saves, and what storing faces in shards would save and cost
(issue 25: a no-op under 10 s at 100,000 faces).

A full build at that size takes an hour (benchmarks/scale.py); DVC's no-op cost does not
depend on what the files hold, only on how many it stats and looks up in its state
database. As in the pipeline, a stage depends on the manifest in the folder before it, not
on the folder, so each folder is walked once, as an output. So this builds two DVC
projects side by side, in one run, with outputs shaped
like scale.py's 100,000-face build: ingest's folder of faces (a file a face),
synthesize's (32% more), and split's manifest with or without the ImageFolder tree of hard
links (`<split>/<label>/<id>.png`, one a row of both). The files are small stand-ins, not
PNGs. A third project keeps the faces in uncompressed zip shards of SHARD faces each
instead (not built in the pipeline: what it would save). Each project is built with `dvc
repro` once; then `dvc status` and a no-op `dvc repro` are timed twice each, as wall and CPU
(user + sys) time.

What shards would cost each read is measured beside it: real PNG faces (the UTKFace
sample, re-encoded as the stages write them) read in a shuffled order from a file each and
from zip shards, with the decode that follows every read for scale.

    python benchmarks/dvc_noop.py [--faces 100000]
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.images import load_rgb, save_png  # noqa: E402
from tests.project import ENV  # noqa: E402

BIN = Path(sys.executable).parent
SYNTHETIC_SHARE = 0.32  # synthesize's new faces per ingested face in scale.py's build
SHARD = 4096  # faces a shard
LAYOUTS = ("files + ImageFolder tree", "files, manifest only", f"zip shards of {SHARD:,}, manifest only")

MAKE = textwrap.dedent(
    """
    import os, sys
    import zipfile
    stage, n = sys.argv[1], int(sys.argv[2])
    if stage.endswith("-shards"):
        stage = stage.removesuffix("-shards")
        os.makedirs(stage, exist_ok=True)
        for first in range(0, n, SHARD):
            with zipfile.ZipFile(f"{stage}/{first // SHARD:05d}.zip", "w") as shard:
                for i in range(first, min(n, first + SHARD)):
                    shard.writestr(f"{i:07d}.png", i.to_bytes(8, "little") * 8)
        open(f"{stage}/manifest.parquet", "wb").write(b"rows")
    elif stage in ("ingest", "synthesize"):
        os.makedirs(stage, exist_ok=True)
        for i in range(n):
            with open(f"{stage}/{i:07d}.png", "wb") as f:
                f.write(i.to_bytes(8, "little") * 8)
        open(f"{stage}/manifest.parquet", "wb").write(b"rows")
    else:
        os.makedirs("split", exist_ok=True)
        open("split/manifest.parquet", "wb").write(b"rows")
        if stage == "split-imagefolder":
            names = [f"{d}/{p}" for d in ("ingest", "synthesize") for p in sorted(os.listdir(d))]
            names = [name for name in names if name.endswith(".png")]
            for i, name in enumerate(names):
                folder = f"split/imagefolder/{('train', 'val', 'test')[i % 3]}/{('mask', 'no_mask')[i % 2]}"
                os.makedirs(folder, exist_ok=True)
                os.link(name, f"{folder}/{i:07d}.png")
    """
)


def project(root: Path, faces: int, layout: str) -> Path:
    root.mkdir()
    synthetic = round(faces * SYNTHETIC_SHARE)
    split = "split-imagefolder" if layout == LAYOUTS[0] else "split-manifest"
    shards = "-shards" if layout == LAYOUTS[2] else ""
    (root / "make.py").write_text(f"SHARD = {SHARD}\n" + MAKE)
    (root / "dvc.yaml").write_text(
        textwrap.dedent(
            f"""
            stages:
              ingest: {{cmd: python make.py ingest{shards} {faces}, deps: [make.py], outs: [ingest]}}
              synthesize:
                cmd: python make.py synthesize{shards} {synthetic}
                deps: [ingest/manifest.parquet]
                outs: [synthesize]
              split: {{cmd: python make.py {split} 0, deps: [synthesize/manifest.parquet], outs: [split]}}
            """
        )
    )
    for cmd in (["git", "init", "-q"], [str(BIN / "dvc"), "init", "-q"]):
        subprocess.run(cmd, cwd=root, check=True, env=ENV)
    return root


def timed(root: Path, *args: str) -> tuple[float, float]:
    """(wall s, CPU s of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([str(BIN / "dvc"), *args], cwd=root, check=True, env=ENV, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def tracked_files(root: Path) -> int:
    return sum(
        1 for folder in ("ingest", "synthesize", "split") for p in (root / folder).rglob("*") if p.is_file()
    )


def read_costs(folder: Path, faces: int) -> list[tuple[str, float]]:
    """Milliseconds of CPU a face: read from its own file, read from a zip shard (the
    shard's directory parsed once per shard, as a worker would keep it open), and decoded."""
    sample = sorted((ROOT.parent / "shared" / "data" / "utkface-sample").glob("*.jpg"))
    pixels = [load_rgb(p) for p in sample]
    files = []
    for i in range(faces):
        files.append(folder / "files" / f"{i:07d}.png")
        save_png(pixels[i % len(pixels)], files[-1])
    shard_of = {}
    for first in range(0, faces, SHARD):
        with zipfile.ZipFile(folder / f"{first // SHARD:05d}.zip", "w") as shard:
            for i in range(first, min(faces, first + SHARD)):
                shard.write(files[i], files[i].name)
                shard_of[i] = folder / f"{first // SHARD:05d}.zip"
    order = random.Random(0).sample(range(faces), faces)

    def cpu_ms(read) -> float:
        start = time.process_time()
        for i in order:
            read(i)
        return (time.process_time() - start) / faces * 1000

    opened: dict[Path, zipfile.ZipFile] = {}

    def from_shard(i: int) -> bytes:
        path = shard_of[i]
        if path not in opened:
            opened[path] = zipfile.ZipFile(path)
        return opened[path].read(f"{i:07d}.png")

    rows = [("read a face's file", cpu_ms(lambda i: files[i].read_bytes()))]
    rows.append(("read a face from its zip shard", cpu_ms(from_shard)))
    rows.append(("decode it (load_rgb, for scale)", cpu_ms(lambda i: np.asarray(load_rgb(files[i])))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=20_000, help="faces read to time a read")
    args = parser.parse_args()
    print(
        "| faces stored as | tracked files | first dvc repro s | dvc status s (CPU s) | "
        "again | no-op dvc repro s (CPU s) | again |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n, layout in enumerate(LAYOUTS):
            root = project(Path(tmp) / f"layout-{n}", args.faces, layout)
            build, _ = timed(root, "repro")
            cells = [timed(root, *cmd) for cmd in (["status"], ["status"], ["repro"], ["repro"])]
            shown = [f"{wall:.1f} ({cpu:.1f})" for wall, cpu in cells]
            print(f"| {layout} | {tracked_files(root):,} | {build:.0f} | " + " | ".join(shown) + " |")
        print(f"\n| {args.reads:,} real PNG faces, shuffled | CPU ms a face |\n|---|---:|")
        for name, ms in read_costs(Path(tmp) / "reads", args.reads):
            print(f"| {name} | {ms:.3f} |")


if __name__ == "__main__":
    main()
