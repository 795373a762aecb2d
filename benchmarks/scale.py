"""The data stages at scale through `dvc repro` itself (issue 25: 100,000 faces under 60
minutes, under 2 GB per stage, a no-op `dvc repro` under 10 s).

The faces are memory.py's: real faces varied into distinct JPEGs, read in place by the
`local` source of a project copy. Each data stage runs as `dvc repro --single-item`, so the
time counts DVC's own work around the script (hashing the outputs, copying them into the
cache, writing dvc.lock) as well as the script's; the script's share is timed from when its
process appears to when it exits. Memory is sampled every second over DVC and all its
descendants (reading PSS costs CPU): anonymous PSS, summed, is their own memory; PSS and RSS
also count mapped file pages. Then `dvc status` and a no-op `dvc repro split` are
timed, and the disk each part takes is measured. The last table projects to `--project`
faces linearly, which holds for every stage but dedup's candidate search (see
benchmarks/README.md).

    python benchmarks/scale.py [--images 100000] [--project 1000000] [--keep DIR]
    python benchmarks/scale.py --set split.imagefolder=false    # a param changed for the build
    python benchmarks/scale.py --keep DIR --rerun dedup    # one stage again, on this checkout's code
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from memory import SHARED, faces_project  # noqa: E402

from tests.project import ENV  # noqa: E402

STAGES = ("download@local", "ingest", "dedup", "filter", "landmarks", "synthesize", "split")
HEAD = "| stage | dvc repro s | script s | DVC s | CPU s | anon PSS MB | PSS MB | max RSS MB | files |"
RULE = "|---|---:|---:|---:|---:|---:|---:|---:|---:|"


class Sampler(threading.Thread):
    """Peak summed PSS and anonymous PSS, largest RSS and CPU seconds of a process tree, and
    when a stage script ran in it."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.pss = self.rss = self.anon = 0
        self.script: list[float] = []
        self.cpu: dict[int, float] = {}  # children's times are lost once reaped: sampled live
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):  # the kernel walks each process's pages for PSS
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            pss = rss = anon = 0
            for proc in procs:
                try:
                    times = proc.cpu_times()
                    self.cpu[proc.pid] = times.user + times.system
                    if "stages." in " ".join(proc.cmdline()[:3]):
                        self.script.append(time.perf_counter())
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                memory = _rollup(proc.pid)
                pss, anon = pss + memory.get("Pss", 0), anon + memory.get("Pss_Anon", 0)
                rss = max(rss, memory.get("Rss", 0))
            self.pss, self.rss, self.anon = max(self.pss, pss), max(self.rss, rss), max(self.anon, anon)


def _rollup(pid: int) -> dict[str, int]:
    """A process's memory totals in bytes, from /proc/<pid>/smaps_rollup. Pss_Anon is its own
    memory, pages shared with forked workers counted once: what runs a machine out of memory.
    Pss and Rss also count the file pages it maps (dedup's memory-mapped views), which the
    kernel drops under pressure."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    except OSError:
        return {}
    return {key: int(value.split()[0]) * 1024 for key, _, value in (x.partition(":") for x in lines)}


def timed(repo: Path, *args: str) -> tuple[float, Sampler, str]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dvc"), *args],
        cwd=repo,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sampler = Sampler(process.pid)
    sampler.start()
    out, _ = process.communicate()
    sampler.done.set()
    sampler.join()
    if process.returncode:
        sys.exit(f"dvc {' '.join(args)} failed with exit {process.returncode}:\n{out[-3000:]}")
    return time.perf_counter() - started, sampler, out


def disk(path: Path) -> int:
    """Bytes on disk under `path`, each hard-linked file once."""
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def files(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file() or p.is_symlink())


def stage_row(repo: Path, stage: str, *flags: str) -> float:
    """Run one stage through DVC, print its table row, return its seconds."""
    seconds, sampler, _ = timed(repo, "repro", "--single-item", *flags, stage)
    script = sampler.script[-1] - sampler.script[0] if sampler.script else 0.0
    name = stage.split("@")[0]
    out_dir = repo / "datasets" / ("raw" if name == "download" else name)
    row = [
        stage,
        f"{seconds:.0f}",
        f"{script:.0f}",
        f"{seconds - script:.0f}",
        f"{sum(sampler.cpu.values()):.0f}",
    ]
    memory = (sampler.anon, sampler.pss, sampler.rss)
    row += [f"{m / 2**20:.0f}" for m in memory] + [f"{files(out_dir):,}"]
    print("| " + " | ".join(row) + " |", flush=True)
    return seconds


def rerun(work: Path, stages: list[str]) -> None:
    """Stages of a kept build run again (forced) on this checkout's pipeline code: one
    stage re-measured after a change, without rebuilding the rest."""
    repo = work / "project"
    if not (repo / "dvc.lock").is_file():
        sys.exit(f"--rerun needs a build kept by --keep; {repo} has none")
    for folder in ("pipeline", "stages"):
        shutil.copytree(ROOT / folder, repo / folder, dirs_exist_ok=True)
    print(HEAD + "\n" + RULE)
    for stage in stages:
        stage_row(repo, stage, "--force")


def params(items: list[str]) -> dict[str, dict]:
    """STAGE.KEY=VALUE items as the nested params faces_project merges into params.yaml."""
    out: dict[str, dict] = {}
    for item in items:
        key, _, value = item.partition("=")
        stage, _, name = key.partition(".")
        out.setdefault(stage, {})[name] = yaml.safe_load(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--project", type=int, default=1_000_000, help="faces to project the run to")
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temp dir)")
    parser.add_argument("--rerun", nargs="+", metavar="STAGE", help="rerun these stages of the --keep build")
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="STAGE.KEY=VALUE", help="params.yaml values, YAML-parsed"
    )
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs the real sample at {SHARED} (see ../shared/data/README.md)")
    if args.rerun:
        if args.keep is None:
            sys.exit("--rerun needs --keep DIR, the build to rerun stages of")
        rerun(args.keep, args.rerun)
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="maskset-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        repo = faces_project(work, args.images, **params(args.set))
        print(f"wrote {args.images} faces in {time.perf_counter() - started:.0f} s", flush=True)
        rows, total = [], 0.0
        print(HEAD + "\n" + RULE)
        for stage in STAGES:
            seconds = stage_row(repo, stage)
            rows.append((stage, seconds))
            total += seconds
        print(f"\ndata stages: {total:.0f} s ({total / 60:.1f} min) for {args.images:,} faces\n")
        for what in (("status",), ("status",), ("repro", "split"), ("repro", "split")):
            seconds, _, out = timed(repo, *what)
            first = out.strip().splitlines()[0] if out.strip() else ""
            print(
                f"- `dvc {' '.join(what)}` after the build: {seconds:.1f} s (first line: {first})", flush=True
            )
        print("\n| where | GB on disk |")
        print("|---|---:|")
        for label, path in (
            ("the faces (input)", work / "faces"),
            ("datasets/ (workspace)", repo / "datasets"),
            (".dvc/cache", repo / ".dvc" / "cache"),
        ):
            print(f"| {label} | {disk(path) / 1e9:.2f} |")
        scale = args.project / args.images
        print(f"\n| stage | projected minutes at {args.project:,} faces (linear) |")
        print("|---|---:|")
        for stage, seconds in rows:
            print(f"| {stage} | {seconds * scale / 60:.0f} |")
        print(f"| all data stages | {total * scale / 60:.0f} |")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
