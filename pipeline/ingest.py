"""Ingest: every source layout into one manifest of face crops.

Layout readers (pipeline/layouts) split a source into units, one per origin file with every
face expected on it; here each unit's file is decoded once and each expected face becomes a
crop row or a rejection row. A photo that cannot be decoded rejects every face on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import setting
from pipeline.faces import Box, Detector, detect_faces
from pipeline.groups import merge_groups
from pipeline.images import ImageRejected, content_hashes, load_rgb, pixel_sha256, save_png
from pipeline.layouts import Candidate, Unit, collect_units
from pipeline.manifest import check_conservation, new_manifest, new_rejected
from pipeline.parallel import parallel_map
from pipeline.sources import Source

STAGE = "ingest"


@dataclass(frozen=True)
class IngestConfig:
    margin: float = setting(0.1, ge=0, le=1)
    # off by default: the size policy is filter.min_size's alone, so two thresholds cannot
    # compound; a pre-cut for sources with many tiny boxes, whose rejections count per label
    min_face: int = setting(1, ge=1)
    max_pixels: int = setting(50_000_000, ge=1)
    detector: Detector = "hog"
    detector_upsample: int = setting(1, ge=0, le=4)
    detector_min_score: float = 0.5
    workers: int = setting(2, ge=1)


def crop_box(box: Box, width: int, height: int, margin: float) -> Box:
    """Grow `box` by `margin` of its size on every side, clamped to the image."""
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    return (
        max(0, round(x0 - mx)),
        max(0, round(y0 - my)),
        min(width, round(x1 + mx)),
        min(height, round(y1 + my)),
    )


def _reject(unit: Unit, cand: Candidate, reason: str, detail: str, label: str | None = None) -> dict:
    return {
        "id": cand.key(unit.source, unit.origin, unit.mode),
        "stage": STAGE,
        "reason": reason,
        "detail": detail,
        "source": unit.source,
        "origin": unit.origin,
        "label": label,
    }


def check_box(box: Box, width: int, height: int, min_face: int) -> tuple[Box | None, tuple[str, str] | None]:
    """The box clamped to the image (real boxes end a pixel past the edge), or why it is no face."""
    x0, y0, x1, y1 = box
    clamped = (max(0, x0), max(0, y0), min(width, x1), min(height, y1))
    where = f"box={list(box)} in {width}x{height}"
    if clamped[2] <= clamped[0] or clamped[3] <= clamped[1]:
        return None, ("box_outside_image", where)
    if min(clamped[2] - clamped[0], clamped[3] - clamped[1]) < min_face:
        return None, ("tiny_box", f"{where}, shorter side under min_face={min_face}")
    return clamped, None


def _faces_on(
    unit: Unit, cand: Candidate, rgb: np.ndarray, config: IngestConfig
) -> tuple[list[Box | None], tuple[str, str] | None]:
    """The boxes to crop for one candidate (None: the whole image), or why there are none."""
    height, width = rgb.shape[:2]
    if unit.mode == "crops":
        return [None], None
    if unit.mode == "boxes" and cand.box is not None:
        box, problem = check_box(cand.box, width, height, config.min_face)
        return ([box], None) if box else ([], problem)
    found = detect_faces(rgb, config.detector_upsample, config.detector, config.detector_min_score)
    boxes: list[Box | None] = [b for b in found if min(b[2] - b[0], b[3] - b[1]) >= config.min_face]
    if boxes:
        return boxes, None
    detail = f"{len(found)} {config.detector} detections, none with a side >= min_face={config.min_face}"
    return [], ("no_face_detected", f"{detail} in {width}x{height}")


def process_unit(
    unit: Unit, *, source: Source, config: IngestConfig, faces_dir: Path, recorded_as: Path | None = None
) -> tuple[list[dict], list[dict]]:
    """Decode one file once and turn each expected face into a crop row or a rejection.
    Crops are written under `faces_dir`; the manifest names them under `recorded_as` (a
    stage writes into staging that becomes its output directory only when complete)."""
    if unit.error:
        reason, detail = unit.error
        return [], [_reject(unit, c, reason, detail) for c in unit.candidates]
    labelled, rejected = [], []
    for cand in unit.candidates:
        label = source.map_label(cand.label_raw)
        if label is None:
            rejected.append(_reject(unit, cand, "unknown_label", f"label_raw={cand.label_raw!r}"))
        else:
            labelled.append((cand, label))
    if not labelled:
        return [], rejected
    try:
        rgb = load_rgb(unit.file, max_pixels=config.max_pixels)
    except ImageRejected as exc:
        return [], rejected + [_reject(unit, c, exc.reason, exc.detail, lab) for c, lab in labelled]
    height, width = rgb.shape[:2]
    if unit.size and unit.size != (width, height):
        detail = f"annotated on a {unit.size[0]}x{unit.size[1]} image, the file is {width}x{height}"
        return [], rejected + [_reject(unit, c, "size_mismatch", detail, lab) for c, lab in labelled]
    origin_sha256 = pixel_sha256(rgb)
    rows: list[dict] = []
    cropped: dict[str, list[int] | None] = {}
    for cand, label in labelled:
        boxes, problem = _faces_on(unit, cand, rgb, config)
        if problem:
            rejected.append(_reject(unit, cand, *problem, label))
        for box in boxes:
            if box is None:
                face = rgb
            else:
                box = crop_box(box, width, height, config.margin)
                face = rgb[box[1] : box[3], box[0] : box[2]]
            row_id = Candidate(cand.label_raw, box).key(unit.source, unit.origin, unit.mode)
            if row_id in cropped:  # two boxes (one a pixel past the edge) that clamp to one crop
                if unit.mode == "boxes":
                    detail = f"box={list(cand.box or ())} crops the same pixels as box={cropped[row_id]}"
                    rejected.append(_reject(unit, cand, "duplicate_box", detail, label))
                continue  # the detector found one face twice: it is one face
            cropped[row_id] = list(cand.box) if cand.box else None
            name = Path(unit.source, f"{row_id}.png")
            save_png(face, faces_dir / name)
            rows.append(
                {
                    "id": row_id,
                    "candidate": cand.key(unit.source, unit.origin, unit.mode),
                    "source": unit.source,
                    "origin": unit.origin,
                    "box": list(box) if box is not None else None,
                    "path": ((recorded_as or faces_dir) / name).as_posix(),
                    "width": face.shape[1],
                    "height": face.shape[0],
                    **content_hashes(face),
                    "origin_sha256": origin_sha256,
                    "label": label,
                    "label_raw": cand.label_raw,
                    "wear": source.wear(cand.label_raw),
                    "group": unit.group,
                    "synthetic": source.synthetic,
                }
            )
    return rows, rejected


def ingest_source(
    source: Source, root: Path, config: IngestConfig, faces_dir: Path, recorded_as: Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All faces of one downloaded source: (manifest, rejected), every candidate accounted for."""
    units = collect_units(source, root)
    work = partial(process_unit, source=source, config=config, faces_dir=faces_dir, recorded_as=recorded_as)
    rows, rejected = [], []
    for unit_rows, unit_rejected in parallel_map(
        work, units, workers=config.workers, chunksize=4, desc=f"ingest {source.key}"
    ):
        rows.extend(unit_rows)
        rejected.extend(unit_rejected)
    candidates = {c.key(u.source, u.origin, u.mode) for u in units for c in u.candidates}
    check_conservation(
        f"{STAGE} {source.key}",
        inputs=candidates,
        kept=sorted({r["candidate"] for r in rows}),
        rejected=[r["id"] for r in rejected if r["id"] in candidates],
        created=[r["id"] for r in rejected if r["id"] not in candidates],
    )
    # annotations are joined here, once, so a label table is read once, not sent to each worker
    table = source.attributes.load(root) if source.attributes else {}
    for r in rows:
        del r["candidate"]
        if source.attributes:
            r.update(source.attributes.of(r["origin"], table))
    return new_manifest(rows), new_rejected(rejected)


def join_copies(manifest: pd.DataFrame) -> pd.DataFrame:
    """One group for every copy of a photo: the same pixels under two names (the Kaggle set
    ships maksssksksss410.png and 428.png byte-identical, annotated twice), within a source
    or across sources, so crops of the copies cannot straddle a split."""
    return manifest.assign(group=merge_groups(manifest["group"], manifest["origin_sha256"]))


def photo_counts(kept: pd.DataFrame, rejected: pd.DataFrame) -> dict[str, int]:
    """How many source photos ingest read, and how many gave at least one face: the
    datasheet's photos in and out."""
    seen = pd.concat([kept[["source", "origin"]], rejected[["source", "origin"]]]).drop_duplicates()
    return {"in": len(seen), "with_faces": len(kept[["source", "origin"]].drop_duplicates())}
