"""Landmarks and mask synthesis on real 200 px faces, next to MaskTheFace's way of finding them.

The 60 UTKFace sample faces, repeated REPEAT times (every copy a new file, so nothing is
cached). Rows:

- landmarks, maskset: the fit on the crop's known box plus its refit (pipeline/landmarks.py);
- landmarks, MaskTheFace's way: dlib's HOG detector at upsample 1 on every image, then the
  68 points (what MaskTheFace runs before it warps a template), measured here;
- render + QA: one mask per face in memory, each kind;
- synthesize stage: decode, render, QA and PNG write for every face, 1 and 2 workers;
- QA outcome: faces rendered per wear kind, out of 60.

    python benchmarks/synthesis.py      # prints Markdown tables; paste them into README.md
"""

from __future__ import annotations

import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.faces import detect_faces, landmarks_68  # noqa: E402
from pipeline.images import load_rgb  # noqa: E402
from pipeline.landmarks import LandmarksConfig, add_landmarks, face_landmarks, points_of  # noqa: E402
from pipeline.manifest import WEARS, new_manifest  # noqa: E402
from pipeline.masks.geometry import qa_failure  # noqa: E402
from pipeline.masks.kinds import KINDS  # noqa: E402
from pipeline.masks.render import render_mask  # noqa: E402
from pipeline.synthesize import SynthesizeConfig, synthesize  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
REPEAT = 5
MASKTHEFACE_REPORTED = 40.0  # faces/s on one core, measured for the issue (detect, fit, warp)


def manifest(folder: Path) -> pd.DataFrame:
    faces = sorted((SHARED / "utkface-sample").glob("*.jpg"))
    rows = []
    for k in range(REPEAT):
        for p in faces:
            copy = folder / f"{k}_{p.name}"
            shutil.copyfile(p, copy)
            rows.append({"id": copy.name, "path": str(copy), "origin": p.name})
    common = {"source": "utk", "label": "no_mask", "synthetic": False, "width": 200, "height": 200}
    return new_manifest({**row, **common, "group": row["origin"]} for row in rows)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        df = manifest(tmp)
        n = len(df)
        # load dlib's models before the clock starts; forked workers inherit them
        face_landmarks(df["path"].iloc[0], LandmarksConfig())
        detect_faces(load_rgb(df["path"].iloc[0]))
        (lm, _), s = timed(lambda: add_landmarks(df, LandmarksConfig(workers=1)))
        rows.append(("landmarks, maskset (known box + refit)", 1, n, s))
        _, s2 = timed(lambda: add_landmarks(df, LandmarksConfig(workers=2)))
        rows.append(("landmarks, maskset (known box + refit)", 2, n, s2))

        def masktheface_way() -> int:
            found = 0
            for path in df["path"]:
                rgb = load_rgb(path)
                for box in detect_faces(rgb, upsample=1, min_score=0.0)[:1]:
                    landmarks_68(rgb, box)
                    found += 1
            return found

        found, s = timed(masktheface_way)
        rows.append((f"landmarks, MaskTheFace's way (HOG upsample 1; {found}/{n} found)", 1, n, s))

        faces = [(load_rgb(r["path"]), points_of(pd.Series(r))) for r in lm.to_dict("records")]
        faces = [(f, p) for f, p in faces if p is not None]
        for kind in KINDS:

            def render_all(kind: str = kind) -> None:
                for i, (face, points) in enumerate(faces):
                    render = render_mask(face, points, kind, "light_blue", rng=np.random.default_rng(i))
                    qa_failure(render.alpha, points, "correct")

            _, s = timed(render_all)
            rows.append((f"render + QA in memory, {kind}", 1, len(faces), s))

        for workers in (1, 2):
            config = SynthesizeConfig(sources=("utk",), fraction=1.0, workers=workers)
            (out, _), s = timed(lambda c=config, w=workers: synthesize(lm, c, tmp / f"s{w}"))
            rows.append(("synthesize stage (decode, render, QA, PNG), all kinds", workers, n, s))

        outcome = []
        first = lm[lm["id"].str.startswith("0_")]
        for wear in WEARS:
            config = SynthesizeConfig(sources=("utk",), fraction=1.0, wears={wear: 1.0})
            out, rejected = synthesize(first, config, tmp / wear)
            outcome.append((wear, int(out["synthetic"].sum()), len(first), sorted(set(rejected["reason"]))))

    print(f"| step | workers | faces | seconds | faces/s | x MaskTheFace ({MASKTHEFACE_REPORTED:.0f}/s) |")
    print("|---|---|---|---|---|---|")
    for name, workers, count, s in rows:
        rate = count / s
        print(f"| {name} | {workers} | {count} | {s:.2f} | {rate:.0f} | {rate / MASKTHEFACE_REPORTED:.1f} |")
    print("\n| wear | rendered | faces | rejections |\n|---|---|---|---|")
    for wear, done, total, reasons in outcome:
        print(f"| {wear} | {done} | {total} | {', '.join(reasons) or '-'} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
