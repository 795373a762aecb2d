"""Near-duplicate detection on real faces: maskset's two-step dedup vs imagededup's PHash.

Distinct faces: the Kaggle VOC sample's crops (shorter side >= 40 px; the twin photo
maksssksksss428 left out), the UTKFace crops (`utkface-sample` and `utkface-600`) and the
demo's 100 LFW faces (aligned, the hard case). Every distinct face gets one copy per edit in
EDITS: re-encoding, resizing, crops of 2-15% a side, corner crops, brightness, flips, small
rotations, uniform and blurred borders and letterboxing, greyscale, a text watermark, an
aspect squash and blur. OVERLAYS of the UTKFace faces also get a synthetic mask drawn by
maskset's own renderer and labelled `mask`: a photo and the same photo with a mask on it
are two valid samples of different labels that must share a split group, not duplicates
and not a label conflict.

Prints, per edit, recall (the copy found with its original) and precision (of the pairs
that include an image of that edit, how many are copies of one face) for both tools, then
the overlay outcome, the clusters that join two distinct faces, and the time of each tool
(decode + hash + search, and for maskset verification and clustering).

    pip install --no-deps imagededup     # benchmark only; not a maskset dependency
    python benchmarks/dedup.py [--runs N] [--corpus DIR]

--runs alternates the two tools N times (default 1); --corpus keeps the edited images and
their manifest in DIR and reuses them on the next run (building them takes minutes).

Paste the tables into benchmarks/README.md with the date.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import sys
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.clock import cpu_seconds  # noqa: E402
from pipeline.dedup import DedupConfig, dedup, fingerprint, similarity  # noqa: E402
from pipeline.demo import build_demo  # noqa: E402
from pipeline.images import content_hashes, load_rgb  # noqa: E402
from pipeline.ingest import IngestConfig, ingest_source  # noqa: E402
from pipeline.landmarks import LandmarksConfig, face_landmarks  # noqa: E402
from pipeline.manifest import new_manifest  # noqa: E402
from pipeline.masks.kinds import KINDS  # noqa: E402
from pipeline.masks.render import render_mask  # noqa: E402
from pipeline.sources import load_catalog  # noqa: E402
from tests.edits import framed  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
EDITS = (
    "jpeg70", "jpeg30", "half", "crop2", "crop5", "crop8", "crop10", "crop15", "corner5", "corner10",
    "bright20", "flip", "grey", "blur", "squash", "text", "rot3", "rot-5", "rot5",
    "pad5", "pad10", "pad15", "padwhite10", "blurpad10", "letterbox12",
)  # fmt: skip
OVERLAYS = 300  # UTKFace faces that also get a mask drawn on them
COLOURS = ("light_blue", "white", "black", "navy", "grey")


def edit(im: Image.Image, name: str) -> Image.Image:
    w, h = im.size
    if name.startswith("jpeg"):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=int(name[4:]))
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if name == "half":
        return im.resize((max(1, w // 2), max(1, h // 2)), Image.LANCZOS)
    if name.startswith("crop"):
        f = int(name[4:]) / 100
        return im.crop((round(w * f), round(h * f), round(w * (1 - f)), round(h * (1 - f))))
    if name.startswith("corner"):
        f = int(name[6:]) / 100
        return im.crop((round(w * f), round(h * f), w, h))
    if name == "bright20":
        return ImageEnhance.Brightness(im).enhance(1.2)
    if name == "grey":
        return im.convert("L").convert("RGB")
    if name == "blur":
        return im.filter(ImageFilter.GaussianBlur(max(w, h) / 100))
    if name == "squash":
        return im.resize((max(1, round(w * 0.8)), h), Image.LANCZOS)
    if name == "text":
        out = im.copy()
        draw = ImageDraw.Draw(out)
        draw.text(
            (w * 0.08, h * 0.82), "(c) stockfaces.example", fill=(255, 255, 255), font_size=max(8, h // 14)
        )
        return out
    if name.startswith("rot"):
        return im.rotate(float(name[3:]), resample=Image.BICUBIC)
    if name.startswith("padwhite"):
        return framed(im, int(name[8:]) / 100, (255, 255, 255))
    if name.startswith("pad"):
        return framed(im, int(name[3:]) / 100, (0, 0, 0))
    if name.startswith("blurpad"):
        return framed(im, int(name[7:]) / 100, None)
    if name.startswith("letterbox"):
        return framed(im, int(name[9:]) / 100, (0, 0, 0), letterbox=True)
    assert name == "flip", name
    return im.transpose(Image.FLIP_LEFT_RIGHT)


def distinct_faces(tmp: Path) -> tuple[list[Image.Image], list[Path]]:
    """The distinct faces, and the UTKFace files among them (the ones that get overlays)."""
    catalog = load_catalog(ROOT / "datasets" / "sources.yaml")
    voc, _ = ingest_source(
        catalog["kaggle_face_mask_detection"],
        SHARED / "kaggle-face-mask-detection-sample",
        IngestConfig(min_face=40),
        tmp / "voc",
    )
    voc = voc[~voc["origin"].str.contains("maksssksksss428")]
    faces = [Image.fromarray(load_rgb(tmp / p)) for p in voc["path"]]
    utk = sorted((SHARED / "utkface-sample").glob("*.jpg")) + sorted((SHARED / "utkface-600").glob("*.jpg"))
    build_demo(tmp / "demo", lfw_faces=100)
    lfw = [Image.open(p).convert("RGB") for p in sorted((tmp / "demo" / "faces").rglob("*.png"))]
    return faces + [Image.open(p).convert("RGB") for p in utk] + lfw, utk


def overlay(path: Path, k: int) -> Image.Image | None:
    """The face with a synthetic mask drawn by maskset's renderer, or None without landmarks."""
    found = face_landmarks(str(path), LandmarksConfig())
    if "landmarks" not in found:
        return None
    rgb = load_rgb(path)
    points = np.asarray(found["landmarks"], dtype=np.float64).reshape(68, 2)
    kind = sorted(KINDS)[k % len(KINDS)]
    render = render_mask(rgb, points, kind, COLOURS[k % len(COLOURS)], rng=np.random.default_rng(k))
    return Image.fromarray(render.image)


def _row(path: Path, origin: str, label: str) -> dict:
    rgb = np.asarray(Image.open(path).convert("RGB"))
    common = {"source": "bench", "group": path.stem, "synthetic": False}
    size = {"width": rgb.shape[1], "height": rgb.shape[0]}
    return {"id": path.stem, "origin": origin, "path": str(path), "label": label, **common, **size}


def write_corpus(faces: list[Image.Image], utk: list[Path], folder: Path) -> pd.DataFrame:
    """Each face and its edits as PNG files; `origin` names the distinct face each came from,
    and an overlay's origin is its own (it is not a copy)."""
    folder.mkdir(parents=True)
    rows = []
    for i, face in enumerate(faces):
        for name in ("orig", *EDITS):
            path = folder / f"f{i:04d}_{name}.png"
            (face if name == "orig" else edit(face, name)).save(path)
            rows.append(_row(path, f"f{i:04d}", "no_mask"))
    first_utk = len(faces) - len(utk) - 100
    made = 0
    for k, src in enumerate(utk):
        if made == OVERLAYS:
            break
        masked = overlay(src, k)
        if masked is None:
            continue
        i = first_utk + k
        path = folder / f"f{i:04d}_overlay.png"
        masked.save(path)
        rows.append(_row(path, f"f{i:04d}_overlay", "mask"))
        made += 1
    return new_manifest(
        {**r, **content_hashes(np.asarray(Image.open(r["path"]).convert("RGB")))} for r in rows
    )


def per_edit(pairs: set[tuple[str, str]], truth: pd.DataFrame) -> dict[str, tuple[float, float, int]]:
    """edit -> (recall, precision, false pairs) of a set of reported duplicate pairs."""
    origin = dict(zip(truth["id"], truth["origin"], strict=True))
    originals = truth.loc[truth["id"].str.endswith("_orig"), "origin"]
    touching: dict[str, list[bool]] = defaultdict(list)
    for a, b in pairs:
        for e in {a.split("_", 1)[1], b.split("_", 1)[1]}:
            touching[e].append(origin[a] == origin[b])
    out = {}
    for e in EDITS:
        found = sum(tuple(sorted((f"{o}_orig", f"{o}_{e}"))) in pairs for o in originals)
        marks = touching.get(e, [])
        out[e] = (found / len(originals), sum(marks) / len(marks) if marks else 1.0, marks.count(False))
    return out


def run_maskset(
    truth: pd.DataFrame,
) -> tuple[set[tuple[str, str]], pd.DataFrame, pd.DataFrame, tuple[float, float]]:
    start, cpu = time.perf_counter(), cpu_seconds()
    kept, rejected = dedup(truth, DedupConfig(workers=2))
    seconds = time.perf_counter() - start, cpu_seconds() - cpu
    rep = dict(zip(rejected["id"], rejected["duplicate_of"], strict=True))
    # faces held out as label conflicts are in no cluster
    cluster = {i: rep.get(i) or i for i in truth["id"] if i not in rep or rep[i]}
    members = pd.Series(list(cluster)).groupby(pd.Series(list(cluster.values())))
    pairs = {tuple(sorted(p)) for _, ids in members for p in combinations(list(ids), 2)}
    return pairs, kept, rejected, seconds


def run_imagededup(folder: Path) -> tuple[set[tuple[str, str]], tuple[float, float]]:
    from imagededup.methods import PHash

    start, cpu = time.perf_counter(), cpu_seconds()
    hasher = PHash(verbose=False)
    encodings = hasher.encode_images(image_dir=str(folder), num_enc_workers=2)
    found = hasher.find_duplicates(encoding_map=encodings, max_distance_threshold=10, num_dist_workers=2)
    seconds = time.perf_counter() - start, cpu_seconds() - cpu
    return {tuple(sorted((Path(a).stem, Path(b).stem))) for a, dups in found.items() for b in dups}, seconds


def overlay_outcome(truth: pd.DataFrame, kept: pd.DataFrame, rejected: pd.DataFrame) -> str:
    """How the overlay pairs ended: both kept in one split group (right), or otherwise."""
    group = dict(zip(kept["id"], kept["group"], strict=True))
    reason = dict(zip(rejected["id"], rejected["reason"], strict=True))
    rep = dict(zip(rejected["id"], rejected["duplicate_of"], strict=True))
    outcome: dict[str, int] = defaultdict(int)
    for masked in truth.loc[truth["id"].str.endswith("_overlay"), "id"]:
        orig = masked.replace("_overlay", "_orig")
        orig = rep.get(orig) or orig  # the bare photo's cluster may keep one of its copies
        if masked in group and orig in group:
            outcome["both kept, one group" if group[masked] == group[orig] else "both kept, two groups"] += 1
        else:
            outcome[f"rejected: {reason.get(masked) or reason.get(orig)}"] += 1
    return ", ".join(f"{k} {v}" for k, v in sorted(outcome.items()))


SOURCE_COPY_NCC = 0.95  # stricter than dedup's own test; every pair it passed was looked at


def source_copies(truth: pd.DataFrame, pairs: set[tuple[str, str]]) -> set[frozenset[str]]:
    """Pairs of distinct faces, among those joined, whose own files are one photo twice
    (UTKFace holds some photos twice): original against original, correlating at least
    SOURCE_COPY_NCC and the same pixels above the nose."""
    origin = dict(zip(truth["id"], truth["origin"], strict=True))
    own = truth[truth["id"].str.endswith(("_orig", "_overlay"))]
    file_of = dict(zip(own["origin"], own["path"], strict=True))
    joined = {frozenset((origin[a], origin[b])) for a, b in pairs if origin[a] != origin[b]}
    copies = set()
    for faces in joined:
        x, y = (fingerprint(file_of[f]) for f in sorted(faces))
        match = similarity(x, y)
        if match.whole >= SOURCE_COPY_NCC and match.upper_changed <= 0.02:
            copies.add(faces)
    return copies


def precision_line(name: str, pairs: set[tuple[str, str]], truth: pd.DataFrame) -> str:
    origin = dict(zip(truth["id"], truth["origin"], strict=True))
    copies = source_copies(truth, pairs)
    false = [(a, b) for a, b in pairs if origin[a] != origin[b]]
    strangers = [p for p in false if frozenset((origin[p[0]], origin[p[1]])) not in copies]
    people = {frozenset((origin[a], origin[b])) for a, b in false}
    return (
        f"{name}: {len(pairs)} pairs, precision {1 - len(false) / max(1, len(pairs)):.4f}; "
        f"{len(people)} pairs of distinct faces joined, {len(copies)} of them one photo twice in the "
        f"source; counting those as copies, precision {1 - len(strangers) / max(1, len(pairs)):.4f}; "
        f"strangers joined: {sorted(sorted(j) for j in people - copies)[:10]}"
    )


def corpus(folder: Path) -> pd.DataFrame:
    """The benchmark's images and manifest in `folder`, built once."""
    table = folder / "truth.parquet"
    if not table.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            faces, utk = distinct_faces(Path(tmp))
            write_corpus(faces, utk, folder / "corpus").to_parquet(table)
    return pd.read_parquet(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--corpus", type=Path, help="keep (and reuse) the edited images here")
    parser.add_argument("--maskset-only", action="store_true", help="skip imagededup")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.corpus or Path(tmp)
        truth = corpus(folder)
        n_faces = int(truth["id"].str.endswith("_orig").sum())
        overlays = int(truth["id"].str.endswith("_overlay").sum())
        print(
            f"{n_faces} distinct faces, {len(EDITS)} edits each, {overlays} overlays, {len(truth)} images\n"
        )
        have_imagededup = not args.maskset_only and importlib.util.find_spec("imagededup") is not None
        times: dict[str, list[tuple[float, float]]] = {"maskset": [], "imagededup": []}
        theirs: set[tuple[str, str]] = set()
        for _ in range(args.runs):  # alternating, so a change in the machine's load hits both
            ours, kept, rejected, seconds = run_maskset(truth)
            times["maskset"].append(seconds)
            if have_imagededup:
                theirs, seconds = run_imagededup(folder / "corpus")
                times["imagededup"].append(seconds)
        a = per_edit(ours, truth)
        b = per_edit(theirs, truth) if have_imagededup else {}
        print("| edit | maskset recall | maskset precision | imagededup recall | imagededup precision |")
        print("|---|---|---|---|---|")
        for e in EDITS:
            theirs_cells = f"{b[e][0]:.2f} | {b[e][1]:.3f}" if b else "not installed | -"
            print(f"| {e} | {a[e][0]:.2f} | {a[e][1]:.3f} | {theirs_cells} |")
        print("\n" + precision_line("maskset", ours, truth))
        if have_imagededup:
            print(precision_line("imagededup", theirs, truth))
        print(f"\nmaskset overlays ({overlays}): {overlay_outcome(truth, kept, rejected)}")
        if not have_imagededup:
            print("imagededup not installed: pip install --no-deps imagededup")
        for k, v in times.items():
            if v:
                wall, cpu = (" / ".join(f"{t[n]:.1f}" for t in v) for n in (0, 1))
                print(f"{k}: wall s {wall}; cpu s {cpu}")
        if times["imagededup"]:
            ratio = [t[1] / o[1] for o, t in zip(times["maskset"], times["imagededup"], strict=True)]
            print("imagededup / maskset, cpu: " + " / ".join(f"{r:.2f}x" for r in ratio))


if __name__ == "__main__":
    main()
