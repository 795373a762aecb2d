"""The Dask backend against the process pool, side by side, on a 20,000-face run (issue 25:
within 15% of the pool's time, identical outputs).

The faces are memory.py's: real faces varied into distinct JPEGs, read in place by the
`local` source. In one copy of the project, each stage runs as its real script twice, once
per backend (`parallel.backend`), the order alternating from stage to stage so that neither
backend always runs on a warmer disk cache; both runs' outputs are hashed and compared.
The Dask runs start their own LocalCluster of the stage's 2 workers, and that start-up is
counted. CPU time (user + sys, the stage and every worker) is the comparison the noisy wall
clock allows; wall seconds are printed beside it.

    python benchmarks/dask_backend.py [--images 20000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from memory import SHARED, faces_project  # noqa: E402

from stages.paths import stage_dir  # noqa: E402
from tests.project import ENV, stage_command, tree_digest  # noqa: E402

STAGES = ("ingest", "dedup", "filter")


def run(repo: Path, stage: str, backend: str) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the stage and all its descendants, its summary line)."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["parallel"] = {"backend": backend, "address": None}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    started = time.perf_counter()
    process = psutil.Popen(stage_command(stage), cwd=repo, env=ENV, stdout=subprocess.PIPE, text=True)
    cpu: dict[int, float] = {}
    while process.poll() is None:  # children's times are lost once reaped: sample them live
        try:
            for proc in [process, *process.children(recursive=True)]:
                times = proc.cpu_times()
                cpu[proc.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.2)
    out = process.stdout.read() if process.stdout else ""
    if process.returncode:
        sys.exit(f"{stage} on {backend} failed with exit {process.returncode}")
    wall = time.perf_counter() - started
    summary = next((line for line in out.splitlines() if line.startswith(stage)), "")
    return wall, sum(cpu.values()), summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temp dir)")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs the real sample at {SHARED} (see ../shared/data/README.md)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="maskset-dask-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        repo = faces_project(work, args.images)
        subprocess.run(stage_command("download", "local"), cwd=repo, env=ENV, check=True, capture_output=True)
        print("| stage | pool wall s | dask wall s | pool CPU s | dask CPU s | dask / pool CPU | outputs |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for i, stage in enumerate(STAGES):
            order = ("process", "dask") if i % 2 == 0 else ("dask", "process")
            measured, digests = {}, {}
            for backend in order:
                measured[backend] = run(repo, stage, backend)
                digests[backend] = tree_digest(repo / stage_dir(stage))
            (pw, pc, summary), (dw, dc, _) = measured["process"], measured["dask"]
            same = "identical" if digests["process"] == digests["dask"] else "DIFFER"
            row = [stage, f"{pw:.0f}", f"{dw:.0f}", f"{pc:.0f}", f"{dc:.0f}", f"{dc / pc:.2f}"]
            row.append(f"{same}; {summary}")
            print("| " + " | ".join(row) + " |", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
