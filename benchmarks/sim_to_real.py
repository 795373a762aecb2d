"""Sim-to-real: a model trained on real unmasked faces plus synthetic masks, tested on real masks.

Built with the pipeline's own functions and catalog entries:

- **synthetic training set**: `../shared/data/utkface-600` and `utkface-sample` through the
  `utkface` catalog entry (ingest), landmarks, and synthesize with its default params except
  `sources` and `fraction` (every face gets a masked twin, so the classes are balanced and the
  twin shares its parent's group); split train/val by group.
- **real set**: `../shared/data/real-masked-dev` through the `local` entry (its files are taken
  as crops, as a user's build would), split by group (with split's near-duplicate units) into
  a training half and a test half. The real-trained model learns on the first half; both
  models are measured on the second, so the gap is one number on the same faces. The
  synthetic model is also measured on the whole set.
- **image statistics**: texture (Laplacian variance), brightness spread and a CIELAB colour
  histogram (4 x 6 x 6 bins; the share of it that differs, total variation) of the
  lower-middle face, where the mask sits, for synthetic and real masked faces (each face
  resized to 128 px first, so the resolution of the files does not decide).

    python benchmarks/sim_to_real.py [--archs simple_cnn resnet18] [--epochs 15] [--sheet F.png]
        [--seeds N] [--methods transfer=1] [--augment top_crop=0.3] [--copies 3]
        [--colors black=0.3 ...] [--grayscale] [--train average_from=6]

It prints Markdown tables; paste them into benchmarks/README.md with the date. The real set is
only ever a test set for the synthetic model: nothing from it reaches the synthetic training.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.evaluate import calibration, classification_metrics, predictions  # noqa: E402
from pipeline.images import load_rgb  # noqa: E402
from pipeline.ingest import IngestConfig, ingest_source  # noqa: E402
from pipeline.landmarks import LandmarksConfig, add_landmarks  # noqa: E402
from pipeline.sources import Part, load_catalog  # noqa: E402
from pipeline.split import SplitConfig, split  # noqa: E402
from pipeline.synthesize import SynthesizeConfig, synthesize  # noqa: E402
from pipeline.train import Augment, TrainConfig, train  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DONORS, DONOR_FOLDER = "kaggle_face_mask_detection", "kaggle-face-mask-detection-sample"
CLASSES = ["mask", "no_mask"]
STAT_SIZE = 128
LOWER_FACE = (0.25, 0.58, 0.75, 0.88)  # x0, y0, x1, y1 as shares of the face crop
AUGMENT = Augment(
    hflip=True,
    rotation=10,
    brightness=0.3,
    contrast=0.3,
    saturation=0.3,
    resized_crop=0.8,
    zoom_out=0.5,
    downscale=0.25,
    blur=1.5,
    jpeg=30,
)


def synthetic_set(work: Path, config: SynthesizeConfig, copies: int = 1) -> pd.DataFrame:
    """utkface-600 and utkface-sample, ingested, fitted and masked; split into train and val.
    With `transfer` among the methods, the Kaggle VOC sample's masked faces lend their masks
    and are then dropped: no real masked face is a training sample. `copies` > 1 masks every
    face that many times, each with its own synthesis seed (config.seed + 100 k)."""
    catalog = load_catalog(ROOT / "datasets" / "sources.yaml")
    parts = tuple(
        Part(path=name, layout="single_class", label="unmasked", faces="crops")
        for name in ("utkface-600", "utkface-sample")
    )
    source = dataclasses.replace(catalog["utkface"], parts=parts)
    manifest, _ = ingest_source(source, SHARED, IngestConfig(), work / "faces")
    fitted, _ = add_landmarks(manifest, LandmarksConfig())
    if config.donors:
        donors, _ = ingest_source(catalog[DONORS], SHARED / DONOR_FOLDER, IngestConfig(), work / "donors")
        fitted = pd.concat([fitted, donors], ignore_index=True)
    outputs = [
        synthesize(fitted, dataclasses.replace(config, seed=config.seed + 100 * k), work / f"synthetic{k}")
        for k in range(copies)
    ]
    masked = pd.concat(
        [outputs[0][0], *(out[out["synthetic"].fillna(False).astype(bool)] for out, _ in outputs[1:])],
        ignore_index=True,
    )
    rejected = pd.concat([r for _, r in outputs], ignore_index=True)
    masked = masked[masked["source"] != DONORS]
    reasons = dict(rejected["reason"].value_counts())
    print(
        f"synthetic set: {len(manifest)} real unmasked faces, {int(masked['synthetic'].sum())} masked, "
        f"{len(rejected)} renders rejected {reasons}",
        file=sys.stderr,
    )
    out, _, _ = split(masked, SplitConfig(ratios={"train": 0.8, "val": 0.2, "test": 0.0}))
    return out


def real_set(work: Path) -> pd.DataFrame:
    """real-masked-dev as crops, split by group: train/val (the real model's) and test."""
    catalog = load_catalog(ROOT / "datasets" / "sources.yaml")
    folder = SHARED / "real-masked-dev"
    manifest, rejected = ingest_source(catalog["local"], folder, IngestConfig(), work / "real")
    print(f"real set: {len(manifest)} faces, {len(rejected)} files rejected", file=sys.stderr)
    out, _, _ = split(manifest, SplitConfig(ratios={"train": 0.4, "val": 0.1, "test": 0.5}))
    return out


def scores(model, meta, df: pd.DataFrame) -> dict:
    preds = predictions(model, meta, df.assign(split="test"))
    m = classification_metrics(preds["label"], preds["prediction"], CLASSES)
    cal, _ = calibration(preds["correct"], preds["confidence"], 10)
    return {
        "n": len(preds),
        "accuracy": m["accuracy"],
        "macro_f1": m["f1_macro"],
        "recall_mask": m["per_class"]["mask"]["recall"],
        "recall_no_mask": m["per_class"]["no_mask"]["recall"],
        "ece": cal["ece"],
    }


def lower_face_stats(path: str) -> dict:
    rgb = cv2.resize(load_rgb(path), (STAT_SIZE, STAT_SIZE), interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1 = (round(v * STAT_SIZE) for v in LOWER_FACE)
    patch = rgb[y0:y1, x0:x1]
    grey = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)
    # CIELAB, not hue: the hue of a near-white or grey mask pixel is noise
    lab = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB)
    hist = cv2.calcHist([lab], [0, 1, 2], None, [4, 6, 6], [0, 256, 64, 192, 64, 192]).ravel()
    return {
        "texture": float(cv2.Laplacian(grey, cv2.CV_64F).var()),
        "spread": float(grey.std()),
        "hist": hist / max(hist.sum(), 1.0),
    }


def stats_table(synthetic: pd.DataFrame, real: pd.DataFrame) -> None:
    sets = {
        "synthetic masks": synthetic[synthetic["synthetic"].fillna(False).astype(bool)],
        "real masks": real[real["label"] == "mask"],
        "real unmasked": real[real["label"] == "no_mask"],
    }
    measured = {name: [lower_face_stats(p) for p in df["path"]] for name, df in sets.items()}
    reference = measured["real masks"]
    ref_hist = np.mean([s["hist"] for s in reference], axis=0)
    print(
        "\n| lower face | n | texture (Laplacian var), median | brightness spread, median | "
        "colour histogram, share differing from real masks |"
    )
    print("|---|---|---|---|---|")
    for name, rows in measured.items():
        hist = np.mean([s["hist"] for s in rows], axis=0)
        texture = np.median([s["texture"] for s in rows])
        spread = np.median([s["spread"] for s in rows])
        differing = 0.5 * np.abs(hist - ref_hist).sum()
        print(f"| {name} | {len(rows)} | {texture:.0f} | {spread:.1f} | {differing:.2f} |")


def replaced(settings, items: list[str]):
    """`settings` (a frozen dataclass) with KEY=VALUE items from the command line, each value
    converted to its field's type ("false" and "0" are False for a flag)."""
    changes = {}
    for key, value in (item.split("=", 1) for item in items):
        kind = type(getattr(settings, key))
        changes[key] = value.lower() not in ("false", "0", "no") if kind is bool else kind(value)
    return dataclasses.replace(settings, **changes)


def trained(
    df: pd.DataFrame,
    arch: str,
    epochs: int,
    seed: int,
    augment: Augment = AUGMENT,
    grayscale: bool = False,
    changes: list[str] | None = None,
):
    config = TrainConfig(
        arch=arch,
        image_size=64,
        grayscale=grayscale,
        classes=tuple(CLASSES),
        epochs=epochs,
        patience=5,
        schedule="cosine",
        augment=augment,
        seed=seed,
    )
    config = replaced(config, changes or [])
    start = time.process_time()
    model, meta = train(df, config, log=lambda _: None)
    return model, meta, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["simple_cnn", "resnet18"])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, default=1, help="repeats: synthesis seed 7 + k, training seed k")
    parser.add_argument("--skip-real", action="store_true", help="leave out the real-trained reference")
    parser.add_argument("--sheet", type=Path, help="write a contact sheet: synthetic above, real below")
    parser.add_argument("--grayscale", action="store_true", help="train on grey input (the demo's setting)")
    parser.add_argument(
        "--augment", nargs="+", default=[], metavar="KEY=VALUE", help="change AUGMENT, e.g. resized_crop=0.6"
    )
    parser.add_argument(
        "--train", nargs="+", default=[], metavar="KEY=VALUE", help="change TrainConfig, e.g. average_from=6"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["render=1"],
        metavar="METHOD=WEIGHT",
        help="synthesize.methods, e.g. transfer=1 (masks cut from the Kaggle VOC sample's masked faces)",
    )
    parser.add_argument(
        "--copies", type=int, default=1, help="masked versions of every face (synthesis seeds)"
    )
    parser.add_argument(
        "--colors", nargs="+", default=[], metavar="COLOR=WEIGHT", help="synthesize.colors, e.g. black=0.3"
    )
    args = parser.parse_args()
    methods = {k: float(v) for k, v in (item.split("=", 1) for item in args.methods)}
    donors = (DONORS,) if methods.get("transfer", 0) > 0 else ()
    colors = (
        {"colors": {k: float(v) for k, v in (item.split("=", 1) for item in args.colors)}}
        if args.colors
        else {}
    )
    print(f"methods: {methods}, copies: {args.copies}, {colors or 'default colours'}", file=sys.stderr)
    augment = replaced(AUGMENT, args.augment)
    print(f"augment: {augment}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        real = real_set(work)
        test = real[real["split"] == "test"]
        rows = []
        for seed in range(args.seeds):
            config = SynthesizeConfig(
                sources=("utkface",), fraction=1.0, seed=7 + seed, methods=methods, donors=donors, **colors
            )
            synthetic = synthetic_set(work / f"seed{seed}", config, args.copies)
            for arch in args.archs:
                model, meta, cpu = trained(
                    synthetic, arch, args.epochs, seed, augment, args.grayscale, args.train
                )
                rows.append(
                    (arch, seed, "synthetic masks", "real-masked-dev, all", scores(model, meta, real), cpu)
                )
                rows.append((arch, seed, "synthetic masks", "real test half", scores(model, meta, test), cpu))
                if not args.skip_real:
                    model, meta, cpu = trained(
                        real, arch, args.epochs, seed, augment, args.grayscale, args.train
                    )
                    rows.append(
                        (
                            arch,
                            seed,
                            "real masks (first half)",
                            "real test half",
                            scores(model, meta, test),
                            cpu,
                        )
                    )
        print(
            "\n| model | seed | trained on | tested on | n | accuracy | macro-F1 | recall mask | "
            "recall no_mask | ECE | train CPU s |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for arch, seed, trained_on, tested_on, s, cpu in rows:
            print(
                f"| {arch} | {seed} | {trained_on} | {tested_on} | {s['n']} | {s['accuracy']:.3f} | "
                f"{s['macro_f1']:.3f} | {s['recall_mask']:.3f} | {s['recall_no_mask']:.3f} | "
                f"{s['ece']:.3f} | {cpu:.0f} |"
            )
        print(
            "\n| model | trained on | tested on | macro-F1, mean over seeds | min | max |"
            "\n|---|---|---|---|---|---|"
        )
        table = pd.DataFrame(
            [(r[0], r[2], r[3], r[4]["macro_f1"]) for r in rows], columns=["m", "on", "test", "f1"]
        )
        for (arch, trained_on, tested_on), f1 in table.groupby(["m", "on", "test"], sort=False)["f1"]:
            print(
                f"| {arch} | {trained_on} | {tested_on} | {f1.mean():.3f} | {f1.min():.3f} | {f1.max():.3f} |"
            )
        if not args.skip_real:
            for arch, part in table[table["test"] == "real test half"].groupby("m", sort=False):
                mean = part.groupby("on")["f1"].mean()
                gap = mean["real masks (first half)"] - mean["synthetic masks"]
                print(f"\n{arch}: gap to the real-trained model on the test half, macro-F1 {gap:+.3f}")
        stats_table(synthetic, real)
        if args.sheet:
            write_sheet(synthetic, real, args.sheet)


def write_sheet(synthetic: pd.DataFrame, real: pd.DataFrame, out: Path, n: int = 10, size: int = 96) -> None:
    """One row of synthetic masked faces above one row of real ones, drawn by a fixed seed."""
    fake = synthetic[synthetic["synthetic"].fillna(False).astype(bool)].sample(2 * n, random_state=0)
    true = real[real["label"] == "mask"].sample(2 * n, random_state=0)

    def tile(path: str) -> np.ndarray:
        return cv2.resize(load_rgb(path), (size, size), interpolation=cv2.INTER_AREA)

    tiles = [np.hstack([tile(p) for p in df["path"][k::2]]) for df in (fake, true) for k in (0, 1)]
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.vstack(tiles), cv2.COLOR_RGB2BGR))
    print(f"\ncontact sheet: {out} (rows 1-2 synthetic, 3-4 real)")


if __name__ == "__main__":
    main()
