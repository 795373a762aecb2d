"""Skin tone on real faces: how often it is known, and how far it can be trusted.

- **Known**: the share of colour faces at least 32 px a side that get a tone, per set, label
  and placement (`landmarks`: patches placed by the 68 points; `eyes`: by the eye centres two
  models agree on where the 68 points fail; `box`: placed in the crop's known face box), and
  why the rest are unknown. Sets: utkface-600
  (aligned, unmasked), the Kaggle VOC sample's crops and real-masked-dev (both through
  ingest with the default params, as a user's build would have them).
- **Against annotations**: on utkface-600, the AUC of ITA between the annotated race groups
  (White vs Black, White vs Indian, Asian vs Black), and the bins per group: how many White
  faces land in `brown` or `dark`, the misreading the issue saw.
- **Fallbacks against landmarks**: on faces whose points fit, the bin the eye placement (from
  the points' eye centres) and the box placement give, compared with the landmarks' (same
  bin, within one bin): how far each fallback can be trusted.
- **Layout**: where the landmark-placed patches sit in the known face box, per set: what
  pipeline/skin_tone.py's BOX_REGION must cover.

    python benchmarks/skin_tone.py

Paste the tables into benchmarks/README.md with the date.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.face_points import LEFT_EYE, RIGHT_EYE  # noqa: E402
from pipeline.images import load_rgb  # noqa: E402
from pipeline.ingest import IngestConfig, ingest_source  # noqa: E402
from pipeline.landmarks import LandmarksConfig, face_landmarks, known_box  # noqa: E402
from pipeline.parallel import parallel_map  # noqa: E402
from pipeline.skin_tone import ITA_BINS, estimate, skin_patches  # noqa: E402
from pipeline.sources import load_catalog  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
RACES = {"0": "White", "1": "Black", "2": "Asian", "3": "Indian", "4": "Other"}
BINS = [name for name, _ in ITA_BINS]
CONFIG = LandmarksConfig()


def measure(path: str) -> dict:
    """The landmarks stage's columns for one face, plus what the box placement alone gives
    and where the landmark patches sit in the known box."""
    out = face_landmarks(path, CONFIG)
    rgb = load_rgb(path)
    height, width = rgb.shape[:2]
    box = known_box(width, height, CONFIG.box_inset)
    chroma = np.abs(rgb.astype(np.int16) - rgb.mean(axis=2, keepdims=True)).mean()
    out |= {"width": width, "height": height, "colour": bool(chroma >= 2.0)}
    if out.get("landmarks") is not None:
        points = np.asarray(out["landmarks"], dtype=np.float32).reshape(68, 2)
        out["box_bin"] = estimate(rgb, None, box=box).bin
        out["eyes_bin"] = estimate(
            rgb, None, eyes=np.stack([points[LEFT_EYE].mean(0), points[RIGHT_EYE].mean(0)])
        ).bin
        left, top, right, bottom = box
        out["layout"] = [
            ((c[0] - left) / (right - left), (c[1] - top) / (bottom - top), r / (right - left))
            for c, r in skin_patches(points)
        ]
    return out


def faces(name: str, paths: list[str], labels: list[str], races: list[str | None]) -> pd.DataFrame:
    rows = list(parallel_map(measure, paths, workers=2, desc=name))
    df = pd.DataFrame(rows)
    return df.assign(set=name, label=labels, race=races, path=paths)


def ingested(key: str, folder: Path, tmp: Path) -> tuple[list[str], list[str]]:
    catalog = load_catalog(ROOT / "datasets" / "sources.yaml")
    manifest, _ = ingest_source(catalog[key], folder, IngestConfig(), tmp / key)
    return list(manifest["path"]), list(manifest["label"])


def known_table(df: pd.DataFrame) -> None:
    print(
        "| set | label | colour, >= 32 px | known | by landmarks | by eyes | by box | top reasons unknown |"
    )
    print("|---|---|---|---|---|---|---|---|")
    eligible = df[df["colour"] & (df[["width", "height"]].min(axis=1) >= 32)]
    for (name, label), g in eligible.groupby(["set", "label"]):
        known = g["skin_tone_bin"] != "unknown"
        reasons = g.loc[~known, "skin_tone_error"].str.replace(r"\(.*", "", regex=True).value_counts()
        top = ", ".join(f"{r} {n}" for r, n in reasons.head(3).items())
        by = g.loc[known, "skin_tone_method"].value_counts()
        print(
            f"| {name} | {label} | {len(g)} | {known.mean():.1%} | {by.get('landmarks', 0)} | "
            f"{by.get('eyes', 0)} | {by.get('box', 0)} | {top} |"
        )
    for name, g in eligible.groupby("set"):
        print(f"{name}: known {(g['skin_tone_bin'] != 'unknown').mean():.1%} of {len(g)}")


def annotation_table(utk: pd.DataFrame) -> None:
    known = utk[utk["skin_tone_bin"] != "unknown"]
    print("\n| utkface-600 race | faces | known | " + " | ".join(BINS) + " | median ITA |")
    print("|---|---|---|" + "---|" * len(BINS) + "---|")
    for race, g in utk.groupby("race"):
        k = known[known["race"] == race]
        counts = k["skin_tone_bin"].value_counts()
        cells = " | ".join(str(counts.get(b, 0)) for b in BINS)
        print(f"| {race} | {len(g)} | {len(k)} | {cells} | {k['skin_tone_ita'].median():.1f} |")
    for light, dark in (("White", "Black"), ("White", "Indian"), ("Asian", "Black")):
        pair = known[known["race"].isin([light, dark])]
        auc = roc_auc_score(pair["race"] == light, pair["skin_tone_ita"])
        print(f"AUC of ITA, {light} vs {dark}: {auc:.3f} ({len(pair)} faces)")


def agreement_table(df: pd.DataFrame) -> None:
    both = df.dropna(subset=["box_bin"])
    both = both[both["skin_tone_bin"] != "unknown"]
    print(
        "\n| set | placement | faces with landmarks and a tone | it gives one | same bin | within one bin |"
    )
    print("|---|---|---|---|---|---|")
    for (name, g), placement in itertools.product(both.groupby("set"), ("eyes", "box")):
        placed = g[g[f"{placement}_bin"] != "unknown"]
        step = (placed[f"{placement}_bin"].map(BINS.index) - placed["skin_tone_bin"].map(BINS.index)).abs()
        print(
            f"| {name} | {placement} | {len(g)} | {len(placed) / max(len(g), 1):.1%} | "
            f"{(step == 0).mean():.1%} | {(step <= 1).mean():.1%} |"
        )


def layout(df: pd.DataFrame) -> None:
    print("\nmedian (x, y, radius) of the landmark patches in the known box: forehead, left, right cheek")
    for name, fits in df.dropna(subset=["layout"]).groupby("set"):
        medians = np.median(np.array(list(fits["layout"])), axis=0)
        print(
            f"{name} ({len(fits)} fits): " + ", ".join(f"({x:.2f}, {y:.2f}, {r:.2f})" for x, y, r in medians)
        )


def main() -> None:
    utk = sorted((SHARED / "utkface-600").glob("*.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        voc_paths, voc_labels = ingested(
            "kaggle_face_mask_detection", SHARED / "kaggle-face-mask-detection-sample", Path(tmp)
        )
        rmd_paths, rmd_labels = ingested("local", SHARED / "real-masked-dev", Path(tmp))
        df = pd.concat(
            [
                faces(
                    "utkface-600",
                    [str(p) for p in utk],
                    ["no_mask"] * len(utk),
                    [RACES[p.name.split("_")[2]] for p in utk],
                ),
                faces("voc-sample", voc_paths, voc_labels, [None] * len(voc_paths)),
                faces("real-masked-dev", rmd_paths, rmd_labels, [None] * len(rmd_paths)),
            ],
            ignore_index=True,
        )
    known_table(df)
    annotation_table(df[df["set"] == "utkface-600"])
    agreement_table(df)
    layout(df)


if __name__ == "__main__":
    main()
