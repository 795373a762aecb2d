"""Training memory at 20,000 and 100,000 faces, the tensor cache on disk and in RAM (issue 25:
flat within 10% with the cache on disk).

Each run is the train stage's work in a fresh process: it reads a split manifest of N rows
over the real utkface-600 faces (each row decoded into the cache on its own, as distinct
faces would be; every column a real build fills, landmarks included) as the stage does,
and trains one epoch of model1 at 64 px RGB. A sampler reads the process's /proc status every 0.2 s:
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpu import manifest  # noqa: E402

from pipeline.manifest import new_manifest, write_manifest  # noqa: E402

CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from pipeline.train import TrainConfig, load_training_rows, train
config = TrainConfig(arch="model1", image_size=64, epochs=1, batch_size=64, device="cpu")
df = load_training_rows(Path({manifest!r}), config)
cache = None if {cache!r} == "memory" else Path({folder!r})
train(df, config, lambda metrics: None, cache_dir=cache)
"""


def write_split(n: int, path: Path) -> None:
    """A split manifest of n rows over the real faces with every column a real build fills
    (hashes, provenance, 68 landmarks, tone), written as the split stage writes it, so the
    child reads it as the train stage does."""
    df = manifest(n)
    rng = np.random.default_rng(0)
    hexes = [f"{k:064x}" for k in rng.integers(0, 2**62, n)]
    df = df.assign(
        source="utkface",
        origin=[f"UTKFace/{Path(p).name}" for p in df["path"]],
        box=[[0, 0, 200, 200]] * n,
        width=200,
        height=200,
        sha256=hexes,
        phash=[h[:16] for h in hexes],
        phash_mirror=[h[16:32] for h in hexes],
        origin_sha256=[h[::-1] for h in hexes],
        label_raw=df["label"],
        group=df["id"],
        landmarks=list(rng.uniform(0, 200, (n, 136)).astype(np.float32)),
        landmark_method="box",
        landmark_shift=0.02,
        skin_tone_ita=30.0,
        skin_tone_bin="intermediate",
        monk_tone=4,
        skin_tone_method="landmarks",
        repeats=1,
    )
    write_manifest(new_manifest(df.to_dict("records")), path)


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
    split = Path(folder) / "manifest.parquet"
    write_split(n, split)
    code = CHILD.format(root=str(ROOT), manifest=str(split), cache=cache, folder=folder)
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
