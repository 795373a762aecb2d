"""Dedup: exact and near duplicates, in clusters, right on face data.

A duplicate that survives into both train and test inflates accuracy; a distinct face thrown
away is lost data. On aligned face crops one perceptual hash cannot serve both: different
people in the same pose land within a few bits of each other, while a copy cropped by 5% a
side lands 10-20 bits from its original. So near duplicates are found in two steps:

1. Candidates. Each face gets pHashes of six views (the whole face, its centre 90%, and four
   95% corner crops) and of its mirror image. A copy cropped or shifted a little matches
   one view of its original within `candidate_distance` bits, and a flipped copy the
   mirror hash. The search is multi-index hashing (pipeline/hamming.py), not all pairs.
2. Verification. For each candidate pair, the best normalised cross-correlation between a
   32x32 grey thumbnail of one face's views (and mirror) and the other whole face. An edited
   copy of one photo (re-encoded, resized, cropped, brightened) correlates above `verify_ncc`;
   another person in a similar pose does not, because hair, skin and background differ.

Exact duplicates (same decoded pixels) need no verification. Clusters keep one
representative (real over synthetic, then more pixels, then sharper, then id); clusters whose
members disagree on the label are all held out as `label_conflict`. The groups of all
members merge into the representative's, and so do the groups of faces within
`group_distance` bits even when verification kept both, so the split cannot separate them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import DisjointSet

from pipeline.config import setting
from pipeline.groups import merge_groups
from pipeline.hamming import hash_codes, multi_index_pairs, near_pairs, unique_pairs
from pipeline.images import dct_hashes
from pipeline.manifest import check_conservation, reject_rows
from pipeline.parallel import parallel_map

STAGE = "dedup"
# view name -> (left, top, right, bottom) as fractions of the face
VIEWS = {
    "whole": (0.0, 0.0, 1.0, 1.0),
    "centre90": (0.05, 0.05, 0.95, 0.95),
    "top_left95": (0.0, 0.0, 0.95, 0.95),
    "top_right95": (0.05, 0.0, 1.0, 0.95),
    "bottom_left95": (0.0, 0.05, 0.95, 1.0),
    "bottom_right95": (0.05, 0.05, 1.0, 1.0),
}
THUMB = 64  # side of the grey thumbnail every view is cut from
NCC_SIDE = 32


@dataclass(frozen=True)
class DedupConfig:
    candidate_distance: int = setting(8, ge=0, le=16)
    verify_ncc: float = setting(0.92, gt=0, le=1)
    group_distance: int = setting(4, ge=0, le=16)
    workers: int = setting(2, ge=1)

    def __post_init__(self) -> None:
        if self.group_distance > self.candidate_distance:
            raise ValueError("group_distance must be <= candidate_distance")


@dataclass
class Fingerprint:
    codes: np.ndarray  # uint64 pHash of each view, then of the mirror image
    views: np.ndarray  # those views, 32x32 grey each: verification correlates them
    sharpness: float


def _area_matrix(start: float, stop: float) -> np.ndarray:
    """The NCC_SIDE x THUMB matrix that cuts [start, stop) of a THUMB-long axis and resizes
    it by pixel-area averaging (OpenCV's INTER_AREA weights, read off an identity matrix)."""
    lo, hi = round(start * THUMB), round(stop * THUMB)
    weights = cv2.resize(np.eye(hi - lo, dtype=np.float32), (hi - lo, NCC_SIDE), interpolation=cv2.INTER_AREA)
    out = np.zeros((NCC_SIDE, THUMB), dtype=np.float32)
    out[:, lo:hi] = weights
    return out


# Every view (and the mirror, last) is rows @ thumb @ cols: two batched matrix products per
# face instead of seven crops and resizes.
_ROWS = np.stack([_area_matrix(top, bottom) for _, top, _, bottom in VIEWS.values()] + [_area_matrix(0, 1)])
_COLS = np.stack(
    [_area_matrix(left, right).T for left, _, right, _ in VIEWS.values()] + [_area_matrix(0, 1)[:, ::-1].T]
)


def fingerprint(path: str) -> Fingerprint | tuple[str, str]:
    """Everything dedup needs of one face, or (reason, detail) when it cannot be read. All of
    it comes from one THUMB-pixel grey thumbnail, so the cost is the decode, not the face size.
    The faces are the PNGs ingest and synthesize wrote, after ingest's checks on hostile
    input, so OpenCV's decoder (twice as fast here as Pillow's) reads them straight to grey."""
    if not Path(path).is_file():
        return "unreadable", f"no file at {path}"
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey is None or grey.size == 0:
        return "decode_error", "OpenCV cannot decode this face image"
    interpolation = cv2.INTER_AREA if min(grey.shape) >= THUMB else cv2.INTER_CUBIC
    thumb = cv2.resize(grey, (THUMB, THUMB), interpolation=interpolation)
    # Laplacian energy relative to contrast: only a tie-break between copies of one size,
    # since edits move it a few percent either way
    flat = thumb.astype(np.float64)
    sharpness = cv2.Laplacian(flat, cv2.CV_64F).var() / (flat.var() + 1.0)
    views = np.rint(_ROWS @ thumb.astype(np.float32) @ _COLS).astype(np.uint8)
    return Fingerprint(codes=dct_hashes(views), views=views, sharpness=float(sharpness))


def _unit(views: np.ndarray) -> np.ndarray:
    """Views as zero-mean, unit-length vectors: the dot product of two is their NCC."""
    v = views.reshape(*views.shape[:-2], -1).astype(np.float32)
    v -= v.mean(axis=-1, keepdims=True)
    return v / (np.sqrt(np.einsum("...d,...d->...", v, v))[..., None] + 1e-6)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Best correlation of one face's views (and mirror) with the other whole face, either way;
    `a` and `b` are the `views` of two fingerprints."""
    va, vb = _unit(a), _unit(b)
    return float(max((va @ vb[0]).max(), (vb @ va[0]).max()))


def _similarities(prints: list, pairs: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """similarity() of many pairs, vectorised in chunks of pairs; each face in a chunk is
    normalised once, however many pairs it is in."""
    out = np.empty(len(pairs))
    for start in range(0, len(pairs), chunk):
        faces, local = np.unique(pairs[start : start + chunk], return_inverse=True)
        units = _unit(np.stack([prints[i].views for i in faces]))
        a, b = local.reshape(-1, 2).T
        a_to_b = np.einsum("pvd,pd->pv", units[a], units[b, 0]).max(axis=1)
        b_to_a = np.einsum("pvd,pd->pv", units[b], units[a, 0]).max(axis=1)
        out[start : start + chunk] = np.maximum(a_to_b, b_to_a)
    return out


def candidate_pairs(codes: np.ndarray, max_distance: int) -> np.ndarray:
    """Pairs (i < j) where a view or the mirror of one face is within max_distance bits of the
    other whole face."""
    k = codes.shape[1]
    queries = codes.reshape(-1)
    found = multi_index_pairs(queries, codes[:, 0], max_distance)
    return unique_pairs(np.stack([found[:, 0] // k, found[:, 1]], axis=1))


def _representative_order(df: pd.DataFrame, sharpness: np.ndarray) -> pd.Series:
    """Rank for keeping one member: real over synthetic, more pixels, sharper, then id."""
    frame = pd.DataFrame(
        {
            "synthetic": df["synthetic"].fillna(False).astype(bool),
            "pixels": -(df["width"].fillna(0) * df["height"].fillna(0)),
            "sharpness": -sharpness,
            "id": df["id"],
        }
    )
    return frame.sort_values(["synthetic", "pixels", "sharpness", "id"]).index.to_series()


def dedup(df: pd.DataFrame, config: DedupConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, rejected): one representative per duplicate cluster; clusters whose members
    disagree on the label are rejected whole as `label_conflict`."""
    df = df.reset_index(drop=True)
    prints = list(
        parallel_map(fingerprint, list(df["path"]), workers=config.workers, chunksize=32, desc="dedup")
    )
    unreadable = {i: p for i, p in enumerate(prints) if not isinstance(p, Fingerprint)}
    rejected = [(i, reason, detail, None) for i, (reason, detail) in unreadable.items()]
    good = {i: p for i, p in enumerate(prints) if isinstance(p, Fingerprint)}
    ok = sorted(good)
    sharpness = np.array([good[i].sharpness if i in good else 0.0 for i in range(len(df))])

    sets = DisjointSet(ok)
    evidence: dict[tuple[int, int], float] = {}
    for _, idx in df.loc[ok].groupby("sha256").groups.items():
        for k in idx[1:]:
            sets.merge(idx[0], k)
    if len(ok) > 1:
        codes = np.stack([good[i].codes for i in ok])
        candidates = np.asarray(ok)[candidate_pairs(codes, config.candidate_distance)]
        for (i, j), score in zip(candidates, _similarities(prints, candidates), strict=True):
            if score >= config.verify_ncc:
                sets.merge(i, j)
                evidence[(i, j)] = evidence[(j, i)] = float(score)
    # the split's leakage check counts pairs this close in the manifest's own pHashes
    both = df.loc[ok]
    close = near_pairs(hash_codes(both["phash"]), config.group_distance, hash_codes(both["phash_mirror"]))
    group_pairs = [(ok[a], ok[b]) for a, b in close]

    order = _representative_order(df, sharpness)
    rank = np.empty(len(df), dtype=np.int64)
    rank[order.to_numpy()] = np.arange(len(order))
    ids, labels, sha = df["id"].to_numpy(), df["label"].to_numpy(), df["sha256"].to_numpy()
    kept_idx = []
    for members in sets.subsets():
        members = sorted(members, key=lambda k: rank[k])
        found = sorted(set(labels[members]))
        rep = members[0]
        if len(found) > 1:
            for k in members:
                others = ",".join(ids[m] for m in members if m != k)
                conflict = f"labels={','.join(found)} with={others}"
                rejected.append((k, "label_conflict", conflict, None))
            continue
        kept_idx.append(rep)
        for k in members[1:]:
            if sha[k] == sha[rep]:
                rejected.append((k, "exact_duplicate", "identical pixels", ids[rep]))
                continue
            # the correlation with the kept face, or joined through another member of the cluster
            detail = f"ncc={evidence[(rep, k)]:.3f}" if (rep, k) in evidence else "via another copy"
            rejected.append((k, "near_duplicate", detail, ids[rep]))

    # one split group for every cluster, and for faces too close for the split to part them
    for i, j in group_pairs:
        sets.merge(i, j)
    linked = pd.Series({i: min(sets.subset(i)) for i in ok}, dtype=object).reindex(df.index)
    kept = df.loc[sorted(kept_idx)].copy()
    kept["group"] = merge_groups(df["group"], linked)[kept.index]
    index, reasons, details, kept_for = zip(*rejected, strict=True) if rejected else ((), (), (), ())
    rejected_df = reject_rows(df.loc[list(index)], STAGE, reasons, details, kept_for)
    check_conservation(STAGE, df["id"], kept["id"], rejected_df["id"])
    return kept.reset_index(drop=True), rejected_df


def dedup_report(kept: pd.DataFrame, rejected: pd.DataFrame, config: DedupConfig) -> dict:
    """What dedup found beyond the counts, read back from its rejection rows: how big the
    clusters are, which span sources (a sign two sources share photos), and every label
    conflict in full, so a reviewer can settle it with a correction."""
    dup = rejected[rejected["reason"].isin(["exact_duplicate", "near_duplicate"])]
    rep = dup["duplicate_of"]
    source_of = dict(zip(kept["id"], kept["source"], strict=True))
    clusters = [
        {"kept": r, "size": len(g) + 1, "sources": sorted({source_of[r], *g["source"]})}
        for r, g in dup.groupby(rep, sort=True)
    ]
    clusters.sort(key=lambda c: (-c["size"], c["kept"]))
    conflict = rejected[rejected["reason"] == "label_conflict"].set_index("id")
    conflict_sets = {
        frozenset([i, *detail.split("with=", 1)[1].split(",")]) for i, detail in conflict["detail"].items()
    }
    return {
        "params": asdict(config),
        "clusters": len(clusters),
        "faces_in_clusters": sum(c["size"] for c in clusters),
        "cluster_sizes": {str(k): v for k, v in sorted(Counter(c["size"] for c in clusters).items())},
        "cross_source_clusters": [c for c in clusters if len(c["sources"]) > 1],
        "largest_clusters": clusters[:10],
        "label_conflicts": [
            [{"id": i, **conflict.loc[i, ["label", "source", "path"]].to_dict()} for i in sorted(members)]
            for members in sorted(conflict_sets, key=sorted)
        ],
    }
