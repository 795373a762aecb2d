"""Hamming-space pair search: the multi-index search finds exactly what all-pairs XOR finds."""

import numpy as np
import pytest

from pipeline.hamming import brute_force_pairs, hash_codes, multi_index_pairs, near_pairs


def planted(rng, n: int, pairs: int, max_distance: int) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """n random codes, then `pairs` codes overwritten by copies of others with up to
    max_distance bits flipped."""
    codes = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n, dtype=np.uint64)
    chosen = rng.choice(n, 2 * pairs, replace=False)
    for src, dst in zip(chosen[:pairs], chosen[pairs:], strict=True):
        code = int(codes[src])
        for bit in rng.choice(64, rng.integers(0, max_distance + 1), replace=False):
            code ^= 1 << int(bit)
        codes[dst] = np.uint64(code)
    return codes, {(min(a, b), max(a, b)) for a, b in zip(chosen[:pairs], chosen[pairs:], strict=True)}


@pytest.mark.parametrize(("n", "r"), [(3000, 0), (3000, 1), (20000, 4), (20000, 8), (4000, 12)])
def test_multi_index_search_equals_brute_force(rng, n, r):
    codes, planted_pairs = planted(rng, n, 100, r)
    mirror = codes[rng.permutation(n)] ^ np.uint64(1)  # a second code per row, near another row
    exact = near_pairs(codes, r, mirror, method="brute")
    indexed = near_pairs(codes, r, mirror, method="index")
    assert np.array_equal(exact, indexed)
    assert planted_pairs <= {tuple(p) for p in indexed}
    assert (exact[:, 0] < exact[:, 1]).all()


def test_queries_searched_in_chunks_find_the_same_pairs(rng):
    codes, _ = planted(rng, 5000, 200, 6)
    query = codes[rng.permutation(5000)[:1500]] ^ np.uint64(4)
    whole = np.unique(multi_index_pairs(query, codes, 6), axis=0)
    assert len(whole) >= 150
    assert np.array_equal(whole, np.unique(multi_index_pairs(query, codes, 6, chunk=97), axis=0))
    assert np.array_equal(whole, np.unique(brute_force_pairs(query, codes, 6), axis=0))


def test_distance_is_inclusive_and_exact():
    base = np.array([0, 0b1111, 0b11111, 2**64 - 1], dtype=np.uint64)
    for search in (brute_force_pairs, multi_index_pairs):
        got = {tuple(p) for p in search(base[:1], base, 4)}
        assert got == {(0, 0), (0, 1)}  # 0 and 4 bits away; 5 and 64 bits are not
    assert near_pairs(base, 64).shape == (6, 2)


def test_hex_hashes_round_trip():
    codes = hash_codes(["ffffffffffffffff", "0000000000000001", "8000000000000000"])
    assert codes.tolist() == [2**64 - 1, 1, 2**63]
