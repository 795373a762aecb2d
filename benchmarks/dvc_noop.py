"""What a no-op `dvc repro` costs for the folders of faces a large build tracks, and what
`split.imagefolder: false` saves (issue 25: a no-op under 10 s at 100,000 faces).

A full build at that size takes an hour (benchmarks/scale.py); DVC's no-op cost does not
depend on what the files hold, only on how many it stats and looks up in its state
database. As in the pipeline, a stage depends on the manifest in the folder before it, not
on the folder, so each folder is walked once, as an output. So this builds two DVC
projects side by side, in one run, with outputs shaped
like scale.py's 100,000-face build: ingest's folder of faces (a file a face),
synthesize's (32% more), and split's manifest with or without the ImageFolder tree of hard
links (`<split>/<label>/<id>.png`, one a row of both). The files are small stand-ins, not
PNGs. Each project is built with `dvc repro` once; then `dvc status` and a no-op
`dvc repro` are timed twice each, as wall and CPU (user + sys) time.

    python benchmarks/dvc_noop.py [--faces 100000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.project import ENV  # noqa: E402

BIN = Path(sys.executable).parent
SYNTHETIC_SHARE = 0.32  # synthesize's new faces per ingested face in scale.py's build

MAKE = textwrap.dedent(
    """
    import os, sys
    stage, n = sys.argv[1], int(sys.argv[2])
    if stage in ("ingest", "synthesize"):
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


def project(root: Path, faces: int, imagefolder: bool) -> Path:
    root.mkdir()
    synthetic = round(faces * SYNTHETIC_SHARE)
    split = "split-imagefolder" if imagefolder else "split-manifest"
    (root / "make.py").write_text(MAKE)
    (root / "dvc.yaml").write_text(
        textwrap.dedent(
            f"""
            stages:
              ingest: {{cmd: python make.py ingest {faces}, deps: [make.py], outs: [ingest]}}
              synthesize:
                cmd: python make.py synthesize {synthetic}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000)
    args = parser.parse_args()
    print(
        "| split.imagefolder | tracked files | first dvc repro s | dvc status s (CPU s) | "
        "again | no-op dvc repro s (CPU s) | again |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for imagefolder in (True, False):
            root = project(Path(tmp) / f"imagefolder-{imagefolder}", args.faces, imagefolder)
            build, _ = timed(root, "repro")
            cells = [timed(root, *cmd) for cmd in (["status"], ["status"], ["repro"], ["repro"])]
            shown = [f"{wall:.1f} ({cpu:.1f})" for wall, cpu in cells]
            print(
                f"| {str(imagefolder).lower()} | {tracked_files(root):,} | {build:.0f} | "
                + " | ".join(shown)
                + " |"
            )


if __name__ == "__main__":
    main()
