"""Landmarks and mask synthesis on real 200 px faces, next to MaskTheFace's way of finding them.

The 60 UTKFace sample faces, repeated REPEAT times (every copy a new file, so nothing is
cached). Rows:

- landmarks, maskset: the fit on the crop's known box plus its refit (pipeline/landmarks.py);
- landmarks, MaskTheFace's way: dlib's HOG detector at upsample 1 on every image, then the
  68 points (what MaskTheFace runs before it warps a template), measured here;
- render + QA: one mask per face in memory, each kind;
- transfer: cutting the Kaggle VOC sample's masked faces (32 px and up) into donors, and
  one donor's real mask per face in memory plus QA (synthesize's `transfer` method);
- synthesize stage: decode, render, QA and PNG write for every face, 1 and 2 workers;
- end to end: landmarks then the synthesize stage, one worker, the default kind weights;
- MaskTheFace itself (with --masktheface): its script on the same files, surgical and
  random kinds, less the CPU time of a run on an empty folder (its imports and model load,
  which the rows above leave out too);
- QA outcome: faces rendered per wear kind on utkface-600, overall and per gender x race
  cell (the lowest and highest cell), so no group silently loses more faces than another.

Rates are faces per CPU-second (user + sys, workers included), each set against
MaskTheFace's rate with random kinds: measured in the same run when --masktheface is given
(the machine's speed drifts from day to day, CPU time too), else the 15.5 faces/s measured
for issue 20.

    python benchmarks/synthesis.py [--masktheface DIR]   # prints Markdown tables

DIR is a checkout of https://github.com/aqeelanwar/MaskTheFace with its two extra packages
importable (`pip install --target DIR/deps imutils dotmap`) and dlib's 68-point model linked
where it looks for it, from face-recognition-models (`DIR/dlib_models/`), since it would
download it otherwise.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.clock import cpu_seconds  # noqa: E402
from pipeline.faces import detect_faces, landmarks_68  # noqa: E402
from pipeline.images import load_rgb  # noqa: E402
from pipeline.ingest import IngestConfig, ingest_source  # noqa: E402
from pipeline.landmarks import LandmarksConfig, add_landmarks, face_landmarks, points_of  # noqa: E402
from pipeline.manifest import WEARS, new_manifest  # noqa: E402
from pipeline.masks.geometry import qa_failure  # noqa: E402
from pipeline.masks.kinds import KINDS  # noqa: E402
from pipeline.masks.render import render_mask  # noqa: E402
from pipeline.masks.transfer import transfer_mask  # noqa: E402
from pipeline.sources import load_catalog  # noqa: E402
from pipeline.synthesize import SynthesizeConfig, cut_donors, donor_rows, synthesize  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
REPEAT = 5
MASKTHEFACE_PER_CPU_S = 15.5  # faces per CPU-second, random kinds (21.4 surgical only), issue 20
MASKTHEFACE_KINDS = ("surgical", "random")


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
    """(result, wall s, CPU s)."""
    start, cpu = time.perf_counter(), cpu_seconds()
    result = fn()
    return result, time.perf_counter() - start, cpu_seconds() - cpu


def masktheface(checkout: Path, df: pd.DataFrame, tmp: Path) -> list[tuple]:
    """MaskTheFace's own script on the manifest's files: (row name, workers, faces, wall s,
    CPU s) per kind, less the run on an empty folder."""
    folder, empty = tmp / "mtf_in", tmp / "mtf_empty"
    folder.mkdir()
    empty.mkdir()
    for path in df["path"]:
        shutil.copyfile(path, folder / Path(path).name)
    env = os.environ | {"PYTHONPATH": str(checkout / "deps")}

    def run(path: Path, kind: str) -> int:
        command = [sys.executable, "mask_the_face.py", "--path", str(path), "--mask_type", kind]
        subprocess.run(command, cwd=checkout, env=env, check=True, capture_output=True)
        written = Path(f"{path}_masked")
        count = sum(1 for _ in written.iterdir()) if written.is_dir() else 0
        shutil.rmtree(written, ignore_errors=True)
        return count

    _, start_s, start_c = timed(lambda: run(empty, "random"))
    rows = []
    for kind in MASKTHEFACE_KINDS:
        written, s, c = timed(lambda kind=kind: run(folder, kind))
        rows.append(
            (f"MaskTheFace, {kind} ({written} of {len(df)} masked)", 1, len(df), s - start_s, c - start_c)
        )
    return rows


def qa_by_cell(tmp: Path) -> list[tuple]:
    """Per wear: rendered / faces on utkface-600, and the lowest and highest gender x race cell."""
    faces = sorted((SHARED / "utkface-600").glob("*.jpg"))
    rows = [
        {"id": p.name, "path": str(p), "origin": p.name, "group": p.name, "source": "utk", "label": "no_mask",
         "synthetic": False, "width": 200, "height": 200}
        for p in faces
    ]  # fmt: skip
    df = new_manifest(rows)
    cells = {p.name: "_".join(p.name.split("_")[1:3]) for p in faces}  # gender_race
    fitted, _ = add_landmarks(df, LandmarksConfig())
    out = []
    for wear in WEARS:
        config = SynthesizeConfig(sources=("utk",), fraction=1.0, wears={wear: 1.0})
        result, rejected = synthesize(fitted, config, tmp / f"qa_{wear}")
        done = set(result.loc[result["synthetic"].fillna(False).astype(bool), "parent_id"])
        share = pd.Series({i: i in done for i in df["id"]}).groupby(cells).mean()
        out.append((wear, len(done), len(df), share.min(), share.idxmin(), share.max(),
                    dict(rejected["reason"].value_counts())))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--masktheface", type=Path, help="a MaskTheFace checkout, run side by side")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        df = manifest(tmp)
        n = len(df)
        reference = MASKTHEFACE_PER_CPU_S
        if args.masktheface:
            theirs = masktheface(args.masktheface.resolve(), df, tmp)
            rows += theirs
            reference = theirs[-1][2] / theirs[-1][4]
        # load dlib's models before the clock starts; forked workers inherit them
        face_landmarks(df["path"].iloc[0], LandmarksConfig())
        detect_faces(load_rgb(df["path"].iloc[0]))
        (lm, _), s, c = timed(lambda: add_landmarks(df, LandmarksConfig(workers=1)))
        rows.append(("landmarks, maskset (known box + refit)", 1, n, s, c))
        _, s2, c2 = timed(lambda: add_landmarks(df, LandmarksConfig(workers=2)))
        rows.append(("landmarks, maskset (known box + refit)", 2, n, s2, c2))

        def masktheface_way() -> int:
            found = 0
            for path in df["path"]:
                rgb = load_rgb(path)
                for box in detect_faces(rgb, upsample=1, min_score=0.0)[:1]:
                    landmarks_68(rgb, box)
                    found += 1
            return found

        found, s, c = timed(masktheface_way)
        rows.append((f"landmarks, MaskTheFace's way (HOG upsample 1; {found}/{n} found)", 1, n, s, c))

        faces = [(load_rgb(r["path"]), points_of(pd.Series(r))) for r in lm.to_dict("records")]
        faces = [(f, p) for f, p in faces if p is not None]
        for kind in KINDS:

            def render_all(kind: str = kind) -> None:
                for i, (face, points) in enumerate(faces):
                    render = render_mask(face, points, kind, "light_blue", rng=np.random.default_rng(i))
                    qa_failure(render.alpha, points, "correct")

            _, s, c = timed(render_all)
            rows.append((f"render + QA in memory, {kind}", 1, len(faces), s, c))

        catalog = load_catalog(ROOT / "datasets" / "sources.yaml")
        voc, _ = ingest_source(
            catalog["kaggle_face_mask_detection"],
            SHARED / "kaggle-face-mask-detection-sample",
            IngestConfig(),
            tmp,
        )
        donor_config = SynthesizeConfig(
            donors=("kaggle_face_mask_detection",), methods={"transfer": 1.0}, workers=1
        )
        cut = donor_rows(voc, donor_config)
        (pool, _), s, c = timed(lambda: cut_donors(voc, donor_config))
        rows.append((f"transfer: cut donors (GrabCut; {len(pool)} of {len(cut)} usable)", 1, len(cut), s, c))

        def transfer_all() -> None:
            for i, (face, points) in enumerate(faces):
                render = transfer_mask(face, points, pool[i % len(pool)], "correct", np.random.default_rng(i))
                qa_failure(render.alpha, points, "correct")

        _, s, c = timed(transfer_all)
        rows.append(("transfer + QA in memory", 1, len(faces), s, c))

        for workers in (1, 2):
            config = SynthesizeConfig(sources=("utk",), fraction=1.0, workers=workers)
            _, s, c = timed(lambda c=config, w=workers: synthesize(lm, c, tmp / f"s{w}"))
            rows.append(("synthesize stage (decode, render, QA, PNG), all kinds", workers, n, s, c))

        def end_to_end() -> None:
            fitted, _ = add_landmarks(df, LandmarksConfig(workers=1))
            synthesize(fitted, SynthesizeConfig(sources=("utk",), fraction=1.0, workers=1), tmp / "e2e")

        _, s, c = timed(end_to_end)
        rows.append(("end to end: landmarks + synthesize stage", 1, n, s, c))
        outcome = qa_by_cell(tmp)

    print(
        "| step | workers | faces | wall s | CPU s | faces per CPU-s "
        f"| x MaskTheFace, random ({reference:.1f}) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, workers, count, s, c in rows:
        rate = count / c
        print(f"| {name} | {workers} | {count} | {s:.2f} | {c:.2f} | {rate:.0f} | {rate / reference:.1f} |")
    print(
        "\n| wear | rendered | faces | lowest cell | highest cell | rejections |\n|---|---|---|---|---|---|"
    )
    for wear, done, total, low, low_cell, high, reasons in outcome:
        print(
            f"| {wear} | {done} ({done / total:.1%}) | {total} | {low:.1%} ({low_cell}) "
            f"| {high:.1%} | {reasons or '-'} |"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
