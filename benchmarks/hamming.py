"""Near-duplicate candidate search in Hamming space: multi-index hashing vs all-pairs XOR.

Random 64-bit codes (the worst case for an index: no clusters) with planted near pairs at
every distance up to r; prints the time of each method and how many planted pairs it found.

    python benchmarks/hamming.py [--sizes 10000 50000 1000000] [--distances 4 8]

Prints a Markdown table; paste it into benchmarks/README.md with the date.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.hamming import near_pairs
from tests.test_hamming import planted

BRUTE_MAX = 100_000  # all-pairs beyond this takes minutes; not worth timing


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 1_000_000])
    parser.add_argument("--distances", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--planted", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| codes | r | method | seconds | pairs found | planted pairs found |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        for r in args.distances:
            codes, pairs = planted(rng, n, min(args.planted, n // 4), r)
            for method in ("brute", "index"):
                if method == "brute" and n > BRUTE_MAX:
                    continue
                start = time.perf_counter()
                found = near_pairs(codes, r, method=method)
                seconds = time.perf_counter() - start
                hit = len(pairs & {tuple(p) for p in found})
                print(f"| {n:,} | {r} | {method} | {seconds:.2f} | {len(found)} | {hit}/{len(pairs)} |")
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
