"""Training memory at 20,000 and 100,000 faces, the tensor cache on disk and in RAM (issue 25:
flat within 10% with the cache on disk).

Each run is train() in a fresh process on a split manifest of N rows over the real
utkface-600 faces (each row decoded into the cache on its own, as distinct faces would be),
one epoch of model1 at 64 px RGB. A sampler reads the process's /proc status every 0.2 s:
RssAnon is the memory the process owns (what can run a machine out of memory), RssFile the
file pages it has mapped (the memory-mapped cache: the kernel's page cache, dropped under
pressure and shared). Peaks are printed.

    python benchmarks/train_memory.py [--sizes 20000 100000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
sys.path.insert(0, {bench!r})
from gpu import manifest
from pipeline.train import TrainConfig, train
df = manifest({n})
config = TrainConfig(arch="model1", image_size=64, epochs=1, batch_size=64, device="cpu")
cache = None if {cache!r} == "memory" else Path({folder!r})
train(df, config, lambda metrics: None, cache_dir=cache)
"""


def peaks(pid: int, done: threading.Event, out: dict[str, int]) -> None:
    while not done.wait(0.2):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                out[key] = max(out.get(key, 0), int(value.split()[0]) * 1024)


def measure(n: int, cache: str, folder: str) -> tuple[float, dict[str, int]]:
    code = CHILD.format(root=str(ROOT), bench=str(ROOT / "benchmarks"), n=n, cache=cache, folder=folder)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    seen: dict[str, int] = {}
    done = threading.Event()
    sampler = threading.Thread(target=peaks, args=(process.pid, done, seen), daemon=True)
    sampler.start()
    if process.wait():
        sys.exit(f"train on {n} faces ({cache}) failed with exit {process.returncode}")
    done.set()
    sampler.join()
    return time.perf_counter() - started, seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--caches", nargs="+", choices=["disk", "memory"], default=["disk", "memory"])
    args = parser.parse_args()
    print("| faces | cache | seconds | peak RssAnon (MB) | peak RssFile (MB) |")
    print("|---:|---|---:|---:|---:|")
    for cache in args.caches:
        for n in args.sizes:
            with tempfile.TemporaryDirectory() as folder:
                seconds, seen = measure(n, cache, folder)
            anon, mapped = seen.get("RssAnon", 0) / 2**20, seen.get("RssFile", 0) / 2**20
            print(f"| {n:,} | {cache} | {seconds:.0f} | {anon:,.0f} | {mapped:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
