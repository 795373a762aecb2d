"""Pairs of 64-bit hashes within a Hamming distance, without comparing every pair.

Multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with
Multi-Index Hashing", CVPR 2012): cut each code into m substrings. If two codes differ in at
most r bits, some substring differs in at most r // m bits (pigeonhole), so it suffices to
look each substring up, with every variant of up to r // m flipped bits, in a table of that
substring, and to check the full distance of the few candidates found. With substrings of
about log2(n) bits a lookup finds about one random code, so the work grows like n, not n^2.
Below BRUTE_FORCE_BELOW comparisons a chunked all-pairs XOR is used instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations

import numpy as np
import pandas as pd

BRUTE_FORCE_BELOW = 2_000_000  # query x base comparisons; measured in benchmarks/hamming.py


def hash_codes(hex_hashes: pd.Series | list[str]) -> np.ndarray:
    """16-hex-digit hashes (imagehash's str()) as uint64."""
    return np.array([int(h, 16) for h in hex_hashes], dtype=np.uint64)


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Index pairs of one set as sorted (i < j), each once, without (i, i)."""
    pairs = np.sort(pairs, axis=1).astype(np.int64)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    if not len(pairs):
        return np.empty((0, 2), dtype=np.int64)
    # one int64 key per pair: a 1-D unique is many times faster than np.unique(axis=0)
    width = int(pairs.max()) + 1
    keys = np.unique(pairs[:, 0] * width + pairs[:, 1])
    return np.stack([keys // width, keys % width], axis=1)


def brute_force_pairs(query: np.ndarray, base: np.ndarray, max_distance: int) -> np.ndarray:
    """(i, j) with distance(query[i], base[j]) <= max_distance, by XOR of every pair, in
    chunks of query rows holding about 4M comparisons (32 MB) at a time."""
    chunk = max(1, 4_000_000 // max(len(base), 1))
    found = []
    for start in range(0, len(query), chunk):
        d = np.bitwise_count(query[start : start + chunk, None] ^ base[None, :])
        i, j = np.nonzero(d <= max_distance)
        found.append(np.stack([i + start, j], axis=1))
    return np.concatenate(found).astype(np.int64) if found else np.empty((0, 2), dtype=np.int64)


def _flips(bits: int, radius: int) -> Iterator[int]:
    """Every mask of `bits` bits with at most `radius` bits set."""
    for k in range(radius + 1):
        for positions in combinations(range(bits), k):
            yield sum(1 << p for p in positions)


def multi_index_pairs(
    query: np.ndarray, base: np.ndarray, max_distance: int, workers: int = 1, chunk: int = 1 << 18
) -> np.ndarray:
    """(i, j) with distance(query[i], base[j]) <= max_distance, by multi-index hashing; the
    substrings are searched on `workers` threads (numpy releases the GIL for each lookup),
    `chunk` queries at a time, so the lookups' working arrays do not grow with the query
    (at 100,000 faces dedup asks 1.7 million)."""
    n = max(len(base), 2)
    substrings = max(3, min(max_distance + 1, round(64 / max(np.log2(n), 8))))
    radius = max_distance // substrings
    bounds = np.linspace(0, 64, substrings + 1).round().astype(int)

    def search(lo: int, hi: int) -> list[np.ndarray]:
        width = int(hi - lo)
        mask = np.uint64((1 << width) - 1)
        q_key = (query >> np.uint64(lo)) & mask
        b_key = (base >> np.uint64(lo)) & mask
        order = np.argsort(b_key, kind="stable")
        # a dense table of where each substring value starts in `order`: lookups are then
        # plain indexing (2**width entries; substrings are at most about 22 bits wide)
        per_key = np.bincount(b_key.astype(np.int64), minlength=1 << width)
        first = np.concatenate([[0], np.cumsum(per_key)[:-1]])
        found = []
        for low in range(0, len(query), chunk):
            keys = q_key[low : low + chunk]
            for flip in _flips(width, radius):
                wanted = (keys ^ np.uint64(flip)).astype(np.int64)
                start, counts = first[wanted], per_key[wanted]
                hits = np.nonzero(counts)[0]
                if not len(hits):
                    continue
                qi = np.repeat(hits, counts[hits])
                # positions start[h], start[h]+1, ..., stop[h]-1 for every hit h
                offsets = np.arange(len(qi)) - np.repeat(np.cumsum(counts[hits]) - counts[hits], counts[hits])
                bj = order[np.repeat(start[hits], counts[hits]) + offsets]
                qi += low
                close = np.bitwise_count(query[qi] ^ base[bj]) <= max_distance
                found.append(np.stack([qi[close], bj[close]], axis=1))
        return found

    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = [hits for part in pool.map(search, bounds[:-1], bounds[1:]) for hits in part]
    return np.concatenate(found).astype(np.int64) if found else np.empty((0, 2), dtype=np.int64)


def near_pairs(
    codes: np.ndarray, max_distance: int, mirror: np.ndarray | None = None, method: str = "auto"
) -> np.ndarray:
    """All pairs (i < j) of `codes` within `max_distance`; with `mirror` (the hashes of each
    image flipped left-right) also pairs where one image's mirror hash is that close to the
    other's hash, which is how a flipped copy shows. `method`: auto | brute | index."""
    codes = np.asarray(codes, dtype=np.uint64)
    if method == "auto":
        method = "brute" if len(codes) ** 2 < BRUTE_FORCE_BELOW else "index"
    search = brute_force_pairs if method == "brute" else multi_index_pairs
    pairs = [search(codes, codes, max_distance)]
    if mirror is not None:
        pairs.append(search(np.asarray(mirror, dtype=np.uint64), codes, max_distance))
    return unique_pairs(np.concatenate(pairs))
