"""Throughput of the per-image stages on the real samples in ../shared/data.

python benchmarks/stages.py          # prints a Markdown table; paste it into README.md
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.landmarks import LandmarksConfig, add_landmarks  # noqa: E402
from pipeline.synthesize import SynthesizeConfig, synthesize  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        utk = pd.DataFrame({"id": [p.name for p in sorted((SHARED / "utkface-sample").glob("*.jpg"))]})
        utk["path"] = [str(SHARED / "utkface-sample" / i) for i in utk["id"]]
        utk = utk.assign(source="utk", origin=utk["id"], label="no_mask", group=utk["id"], synthetic=False)
        for workers in (1, 2):
            (lm, _), s = timed(lambda w=workers: add_landmarks(utk, LandmarksConfig(workers=w)))
            rows.append(("landmarks (UTKFace 200px)", workers, len(lm), s))
        for workers in (1, 2):
            config = SynthesizeConfig(sources=("utk",), fraction=1.0, workers=workers)
            (out, _), s = timed(lambda c=config, w=workers: synthesize(lm, c, tmp / f"s{w}", tmp))
            rows.append(("synthesize (surgical, UTKFace)", workers, int(out["synthetic"].sum()), s))
    print("| step | workers | items | seconds | items/s |")
    print("|---|---|---|---|---|")
    for name, workers, n, s in rows:
        print(f"| {name} | {workers} | {n} | {s:.2f} | {n / s:.0f} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
