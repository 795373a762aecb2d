"""Training throughput on a GPU against this machine's CPU (issue 25), or a line saying there
is no GPU.

Real faces (utkface-600) repeated to `--faces` rows of a split manifest, labelled mask and
no_mask in turn (throughput does not depend on what the labels mean), trained for one epoch
with the pipeline's own `train()`: simple_cnn at 64 px and resnet18 at 128 px, on the CPU
(a few batches' worth, `--cpu-faces`) and on CUDA in float32, with `amp`, and with `amp` and
`--loader-workers` processes augmenting the next batches. images/s is what train() records
(augmentation on the CPU included, as in a real run).

    python benchmarks/gpu.py [--faces 20000] [--cpu-faces 1000] [--loader-workers 4]

Prints a Markdown table; paste it into benchmarks/README.md with the machine it ran on.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.train import Augment, TrainConfig, train  # noqa: E402

FACES = ROOT.parent / "shared" / "data" / "utkface-600"
RECIPES = {
    "simple_cnn": TrainConfig(arch="simple_cnn", image_size=64, epochs=1, batch_size=64),
    "resnet18": TrainConfig(arch="resnet18", image_size=128, epochs=1, batch_size=64, normalize="imagenet"),
}


def manifest(n: int) -> pd.DataFrame:
    """n rows over the real faces: 90% train, 10% val."""
    paths = np.array(sorted(str(p) for p in FACES.glob("*.jpg")))
    i = np.arange(n)
    return pd.DataFrame(
        {
            "id": [f"f{k}" for k in i],
            "path": paths[i % len(paths)],
            "label": np.where(i % 2, "no_mask", "mask"),
            "split": np.where(i % 10 == 0, "val", "train"),
            "synthetic": np.zeros(n, dtype=bool),
        }
    )


def speed(df: pd.DataFrame, config: TrainConfig, cache: Path) -> float:
    _, meta = train(df, config, lambda metrics: None, cache_dir=cache)
    return float(meta.details["train_images_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=int, default=20_000)
    parser.add_argument("--cpu-faces", type=int, default=1_000)
    parser.add_argument("--loader-workers", type=int, default=4)
    args = parser.parse_args()
    if not FACES.is_dir():
        sys.exit(f"needs the real faces at {FACES} (see ../shared/data/README.md)")
    if not torch.cuda.is_available():
        print(f"no GPU: torch {torch.__version__} sees no CUDA device on this machine; nothing measured")
        return
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    workers = args.loader_workers
    print(
        f"| model | CPU images/s | CUDA | CUDA + amp | CUDA + amp + {workers} loader workers | best / CPU |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    augment = Augment(hflip=True, rotation=10)
    with tempfile.TemporaryDirectory() as cache:
        for name, recipe in RECIPES.items():
            recipe = dataclasses.replace(recipe, augment=augment)
            cpu = speed(manifest(args.cpu_faces), dataclasses.replace(recipe, device="cpu"), Path(cache))
            big = manifest(args.faces)
            cuda = speed(big, dataclasses.replace(recipe, device="cuda"), Path(cache))
            amp = speed(big, dataclasses.replace(recipe, device="cuda", amp=True), Path(cache))
            fed = dataclasses.replace(recipe, device="cuda", amp=True, loader_workers=workers)
            loaded = speed(big, fed, Path(cache))
            best = max(cuda, amp, loaded)
            row = f"| {name} | {cpu:.0f} | {cuda:.0f} | {amp:.0f} | {loaded:.0f} | {best / cpu:.1f}x |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
