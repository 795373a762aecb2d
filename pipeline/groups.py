"""Split groups: rows that must land in the same split, joined transitively."""

from __future__ import annotations

import pandas as pd
from scipy.cluster.hierarchy import DisjointSet


def merge_groups(groups: pd.Series, keys: pd.Series) -> pd.Series:
    """Each row's group after joining every group that shares a key with another.

    Joins are transitive: if photo A is in group 1 and 2 (two copies of it under two names)
    and group 2 also holds photo B, all of them end in one group. The merged group is named
    by its smallest member, so the result does not depend on row order. Missing keys join
    nothing.
    """
    sets = DisjointSet(groups.unique())
    frame = pd.DataFrame({"group": groups.to_numpy(), "key": keys.to_numpy()}).dropna(subset=["key"])
    for members in frame.groupby("key")["group"].unique():
        for other in members[1:]:
            sets.merge(members[0], other)
    # each subset's smallest member once: subset(g) per row would cost a cluster's size per row
    name = {g: min(members) for members in sets.subsets() for g in members}
    return pd.Series([name[g] for g in groups], index=groups.index, name=groups.name)
