"""Dedup: exact (decoded-pixel sha256) and near (perceptual hash) duplicates, in clusters.

A duplicate that survives into both train and test inflates accuracy; a distinct face thrown
away is lost data. So near duplicates use a small phash distance, also against the mirror
image (flipped copies are common in scraped sets), and members of a cluster are never
silently merged when they disagree on the label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import DisjointSet

from pipeline.hamming import hash_codes, near_pairs
from pipeline.manifest import check_conservation, new_rejected

STAGE = "dedup"


@dataclass(frozen=True)
class DedupConfig:
    phash_distance: int = 4


def _representative_order(df: pd.DataFrame) -> pd.Series:
    """Rank for keeping one member: real over synthetic, then more pixels, then id."""
    frame = pd.DataFrame(
        {
            "synthetic": df["synthetic"].fillna(False).astype(bool),
            "pixels": -(df["width"].astype(np.int64) * df["height"].astype(np.int64)),
            "id": df["id"],
        }
    )
    return frame.sort_values(["synthetic", "pixels", "id"]).index.to_series()


def dedup(df: pd.DataFrame, config: DedupConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, rejected): one representative per duplicate cluster; clusters whose members
    disagree on the label are rejected whole as `label_conflict`. Kept rows' groups absorb
    the groups of the members they stand for, so sibling crops follow them into one split."""
    df = df.reset_index(drop=True)
    sets = DisjointSet(range(len(df)))
    for _, idx in df.groupby("sha256").groups.items():
        for k in idx[1:]:
            sets.merge(idx[0], k)
    if len(df):
        codes, mirror = hash_codes(df["phash"]), hash_codes(df["phash_mirror"])
        for i, j in near_pairs(codes, config.phash_distance, mirror):
            sets.merge(int(i), int(j))

    order = _representative_order(df)
    rank = pd.Series(np.arange(len(order)), index=order.values)
    kept_idx, rejected = [], []
    group_sets = DisjointSet(df["group"].unique())
    for members in sets.subsets():
        members = sorted(members, key=lambda k: rank[k])
        labels = set(df.loc[members, "label"])
        rep = members[0]
        if len(labels) > 1:
            for k in members:
                others = ",".join(df.at[m, "id"] for m in members if m != k)
                detail = f"labels={sorted(labels)} with {others}"
                rejected.append(_rejection(df.loc[k], "label_conflict", detail))
            continue
        kept_idx.append(rep)
        for k in members[1:]:
            group_sets.merge(df.at[rep, "group"], df.at[k, "group"])
            exact = df.at[k, "sha256"] == df.at[rep, "sha256"]
            reason = "exact_duplicate" if exact else "near_duplicate"
            rejected.append(_rejection(df.loc[k], reason, f"duplicate_of={df.at[rep, 'id']}"))

    kept = df.loc[sorted(kept_idx)].copy()
    kept["group"] = [min(group_sets.subset(g)) for g in kept["group"]]
    rejected_df = new_rejected(rejected)
    check_conservation(STAGE, df["id"], kept["id"], rejected_df["id"])
    return kept.reset_index(drop=True), rejected_df


def _rejection(row: pd.Series, reason: str, detail: str) -> dict:
    return {
        "id": row["id"],
        "stage": STAGE,
        "reason": reason,
        "detail": detail,
        "source": row["source"],
        "origin": row["origin"],
        "path": row["path"],
        "label": row["label"],
    }
