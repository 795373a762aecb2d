"""Split: train / val / test by group, stratified, seeded, and proven leak-free.

Groups (crops of one photo, a synthetic face and its parent, a duplicate cluster, one
person's folder), joined with any group they share a near duplicate with, are the unit of
assignment. Two ways to assign them, both by a seeded hash
of the group id, so row order never matters:

- `ordered` (default): within each stratum (by default source x the group's label set)
  groups are ordered by their hash and cut at the ratios, so every stratum gets its shares
  to within one group. A new source forms new strata and moves nothing; more data in an
  existing stratum can move groups near a cut point to the next split.
- `hash`: each group's hash, read as a number in [0, 1), falls into a ratio bin. A group's
  split then depends on nothing but its id and the seed, so no amount of new data ever moves
  it (the test set only grows), at the price of shares that hold only on average.

A `holdout` (whole sources or listed groups) goes to test before either, for evaluating on
data from somewhere the model never saw.
"""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipeline.config import setting
from pipeline.errors import InvariantError
from pipeline.hamming import hash_codes, near_pairs
from pipeline.manifest import LABELS, SPLITS, SplitName, check_conservation, new_rejected, stable_id

STAGE = "split"


@dataclass(frozen=True)
class Holdout:
    """Rows sent straight to test (with any group they share with another source)."""

    sources: tuple[str, ...] = setting((), unique=True)
    groups: tuple[str, ...] = setting((), unique=True)


@dataclass(frozen=True)
class SplitConfig:
    ratios: dict[SplitName, float] = setting({"train": 0.6, "val": 0.2, "test": 0.2}, ge=0, le=1)
    stratify: tuple[Literal["source", "label"], ...] = setting(("source", "label"), unique=True)
    assignment: Literal["ordered", "hash"] = "ordered"
    balance: Literal["none", "undersample", "oversample"] = "none"
    holdout: Holdout = Holdout()
    phash_distance: int = setting(4, ge=0, le=16)
    seed: int = 42
    # the ImageFolder tree of hard links, one file a row, for tools that read folders: at
    # 100,000 faces it is half the files DVC walks on every `dvc status` (benchmarks/README.md)
    imagefolder: bool = True

    def __post_init__(self) -> None:
        if set(self.ratios) != set(SPLITS):
            raise ValueError(f"ratios must give a share to each of {SPLITS}, got {sorted(self.ratios)}")
        if abs(sum(self.ratios.values()) - 1.0) > 1e-6:
            raise ValueError(f"ratios must sum to 1, got {sum(self.ratios.values())}")


def _stratum(rows: pd.DataFrame, stratify: tuple[str, ...]) -> str:
    parts = []
    if "source" in stratify:
        parts.append("+".join(sorted(set(rows["source"]))))
    if "label" in stratify:
        parts.append("+".join(sorted(set(rows["label"]))))
    return "|".join(parts)


def _unit_hash(seed: int, group: str) -> float:
    return int(stable_id(seed, group), 16) / 16 ** len(stable_id(seed, group))


def held_out(df: pd.DataFrame, holdout: Holdout) -> set[str]:
    """Groups reserved for test: any group with a row from a holdout source, and listed groups."""
    return set(df.loc[df["source"].isin(holdout.sources), "group"]) | set(holdout.groups)


def assignment_units(df: pd.DataFrame, phash_distance: int) -> pd.Series:
    """Per row, what a split is assigned to: its group joined, transitively, with every group
    it shares a near-duplicate pair with (whole or mirrored pHash within `phash_distance`),
    named by the smallest group id in it. Dedup links faces at ingest, but masks drawn later
    make faces alike: on a 20,000-face run two masked faces of different groups came within
    4 bits, and only this keeps them on one side. A face wearing a transferred mask is joined
    with its donor's group too: the same real mask on both sides of a split is a leak."""
    codes, groups = pd.factorize(df["group"])
    pairs = near_pairs(hash_codes(df["phash"]), phash_distance, hash_codes(df["phash_mirror"]))
    edges = codes[pairs] if len(pairs) else np.empty((0, 2), dtype=int)
    row_of = pd.Series(np.arange(len(df)), index=df["id"].to_numpy())
    wearers = np.flatnonzero(df["donor_id"].isin(row_of.index).to_numpy())
    donors = row_of[df["donor_id"].to_numpy()[wearers]].to_numpy()
    edges = np.vstack([edges, np.stack([codes[wearers], codes[donors]], axis=1)])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(groups),) * 2)
    _, component = connected_components(graph, directed=False)
    name = pd.Series(groups).groupby(component).transform("min").to_numpy()
    return pd.Series(name[codes], index=df.index)


def assign_groups(df: pd.DataFrame, config: SplitConfig) -> dict[str, str]:
    """group id -> split, decided per assignment unit (see assignment_units). In `ordered`
    mode sample counts, not group counts, are cut at the ratios."""
    units = assignment_units(df, config.phash_distance)
    reserved = set(units[df["group"].isin(held_out(df, config.holdout))])
    split_of = _assign_units(df.assign(group=units), reserved, config)
    return dict(zip(df["group"], units.map(split_of), strict=True))


def _assign_units(df: pd.DataFrame, reserved: set[str], config: SplitConfig) -> dict[str, str]:
    assignment = dict.fromkeys(reserved, "test")
    df = df[~df["group"].isin(reserved)]
    bounds = np.cumsum([config.ratios[s] for s in typing.get_args(SplitName)])
    if config.assignment == "hash":
        for group in df["group"].unique():
            position = _unit_hash(config.seed, group)
            assignment[group] = SPLITS[min(int(np.searchsorted(bounds, position, side="right")), 2)]
        return assignment
    if df.empty:
        return assignment
    sizes = df.groupby("group").size()
    strata = df.groupby("group").apply(_stratum, config.stratify, include_groups=False)
    for _, groups in strata.groupby(strata):
        order = sorted(groups.index, key=lambda g: stable_id(config.seed, g))
        counts = sizes[order].to_numpy()
        # each group's position is the midpoint of its samples in the cumulative order
        position = (np.cumsum(counts) - counts / 2) / counts.sum()
        for group, pos in zip(order, position, strict=True):
            assignment[group] = SPLITS[int(np.searchsorted(bounds, pos, side="right"))]
    return assignment


def undersample(df: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Drop train rows of larger classes (seeded by id) until classes match; (kept, dropped ids)."""
    train = df[df["split"] == "train"]
    smallest = train["label"].value_counts().min()
    dropped = []
    for _, rows in train.groupby("label"):
        order = sorted(rows["id"], key=lambda i: stable_id(seed, "undersample", i))
        dropped.extend(order[smallest:])
    dropped_ids = pd.Series(sorted(dropped), dtype=str)
    return df[~df["id"].isin(dropped_ids)], dropped_ids


def oversample(df: pd.DataFrame) -> pd.DataFrame:
    """`repeats` per train row so each class contributes as many samples as the largest one:
    every row of a class repeated equally, the remainder spread over its first rows by id."""
    df = df.assign(repeats=1)
    train = df[df["split"] == "train"]
    largest = train["label"].value_counts().max()
    for _, rows in train.groupby("label"):
        base, extra = divmod(largest, len(rows))
        order = rows.sort_values("id").index
        df.loc[order, "repeats"] = base
        df.loc[order[:extra], "repeats"] = base + 1
    return df


def leakage(df: pd.DataFrame, phash_distance: int) -> dict[str, int]:
    """Independent check of invariant 3: what crosses splits (every number must be 0)."""
    per_group = df.groupby("group")["split"].nunique()
    exact = df.groupby("sha256")["split"].nunique()
    pairs = near_pairs(hash_codes(df["phash"]), phash_distance, hash_codes(df["phash_mirror"]))
    splits = df["split"].to_numpy()
    crossing = int((splits[pairs[:, 0]] != splits[pairs[:, 1]]).sum()) if len(pairs) else 0
    parents = df.dropna(subset=["parent_id"]).merge(
        df[["id", "split"]], left_on="parent_id", right_on="id", suffixes=("", "_parent")
    )
    donors = df.dropna(subset=["donor_id"]).merge(
        df[["id", "split"]], left_on="donor_id", right_on="id", suffixes=("", "_donor")
    )
    return {
        "groups_crossing_splits": int((per_group > 1).sum()),
        "identical_pixels_crossing_splits": int((exact > 1).sum()),
        "near_duplicate_pairs_crossing_splits": crossing,
        "synthetic_children_apart_from_parent": int((parents["split"] != parents["split_parent"]).sum()),
        "transferred_masks_apart_from_donor": int((donors["split"] != donors["split_donor"]).sum()),
    }


def counts(df: pd.DataFrame) -> dict:
    """Per split: label counts and label x source counts."""
    out = {}
    for split in SPLITS:
        part = df[df["split"] == split]
        out[split] = {
            "total": len(part),
            "groups": int(part["group"].nunique()),
            "labels": {label: int((part["label"] == label).sum()) for label in LABELS},
            "label_x_source": {
                f"{label}|{source}": int(n)
                for (label, source), n in part.groupby(["label", "source"]).size().items()
            },
            "synthetic": int(part["synthetic"].fillna(False).astype(bool).sum()),
        }
        if "repeats" in part and part["repeats"].notna().any():
            drawn = part.groupby("label")["repeats"].sum()
            out[split]["labels_oversampled"] = {label: int(n) for label, n in drawn.items()}
    return out


def class_weights(df: pd.DataFrame) -> dict[str, float]:
    """Inverse-frequency weights of the train split (scikit-learn's 'balanced' formula)."""
    train = df[df["split"] == "train"]["label"].value_counts()
    return {label: float(train.sum() / (len(train) * n)) for label, n in train.items()}


def split(df: pd.DataFrame, config: SplitConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(manifest with `split`, rejected, report) where report holds counts and leakage."""
    inputs = df["id"]
    df = df.reset_index(drop=True).copy()
    df["split"] = df["group"].map(assign_groups(df, config))
    rejected = new_rejected()
    if config.balance == "undersample":
        df, dropped = undersample(df, config.seed)
        rejected = new_rejected(
            {"id": i, "stage": STAGE, "reason": "undersampled", "detail": "balance=undersample"}
            for i in dropped
        )
    if config.balance == "oversample":
        df = oversample(df)
    check_conservation(STAGE, inputs, df["id"], rejected["id"])
    report = {
        "groups": int(df["group"].nunique()),
        "assignment_units": int(assignment_units(df, config.phash_distance).nunique()),
        "counts": counts(df),
        "leakage": leakage(df, config.phash_distance),
        "class_weights": class_weights(df),
    }
    return df, rejected, report


def link_imagefolder(df: pd.DataFrame, root: Path) -> int:
    """`root/<split>/<label>/<id>.png` hard links (a copy where links are impossible) for
    tools that want plain ImageFolder trees; an oversampled row repeated k times also gets
    `<id>~2.png` .. `<id>~k.png`, so torchvision's ImageFolder sees the balanced counts.
    Returns the number of files."""
    files = 0
    repeats = df["repeats"] if "repeats" in df else pd.Series(1, index=df.index)
    for (_, row), times in zip(df.iterrows(), repeats.fillna(1).astype(int), strict=True):
        for k in range(1, times + 1):
            name = f"{row['id']}.png" if k == 1 else f"{row['id']}~{k}.png"
            target = root / row["split"] / row["label"] / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not os.path.isfile(row["path"]):
                raise InvariantError(
                    f"{row['path']} (id {row['id']}) is gone since the stage that wrote it: rebuild "
                    "that stage's output (dvc repro --force <stage>) and run split again"
                )
            try:
                os.link(row["path"], target)
            except OSError:
                target.write_bytes(Path(row["path"]).read_bytes())
            files += 1
    return files
