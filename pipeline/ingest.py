"""Ingest: every source layout into one manifest of face crops.

Work is split into units, one per origin photo with all its annotated faces, so a photo is
decoded once however many faces it holds. Each candidate face ends as a crop row or a
rejection row; a photo that cannot be decoded rejects every face annotated on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pandas as pd

from pipeline.errors import SourceError
from pipeline.faces import Box, detect_faces
from pipeline.images import ImageRejected, content_hashes, load_rgb, save_png
from pipeline.manifest import check_conservation, new_manifest, new_rejected, stable_id
from pipeline.parallel import parallel_map
from pipeline.sources import Part, Source

STAGE = "ingest"


@dataclass(frozen=True)
class IngestConfig:
    margin: float = 0.1
    min_face: int = 20
    max_pixels: int = 50_000_000
    detector_upsample: int = 1
    detector_min_score: float = 0.5
    workers: int = 2


@dataclass(frozen=True)
class Candidate:
    """One face the source promises: a box on a photo, a whole crop, or 'detect them'."""

    label_raw: str
    box: Box | None = None

    def key(self, source: str, origin: str, mode: str) -> str:
        return stable_id(source, origin, mode, self.box)


@dataclass
class Unit:
    """One origin file and the faces expected on it; `error` rejects them all up front."""

    source: str
    origin: str  # relative to the source root
    file: Path
    mode: str  # crops | detect | boxes
    candidates: list[Candidate] = field(default_factory=list)
    error: tuple[str, str] | None = None


# ---------------------------------------------------------------- layout readers


def _walk_files(root: Path) -> Iterator[Path]:
    """Every regular file under root, sorted, never following symlinked folders."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def read_folder_per_class(source: Source, root: Path, part: Part) -> Iterator[Unit]:
    """Class folders (`with_mask/`, `WithoutMask/`, ...); every file inside is a candidate,
    whatever its extension, so junk is rejected with a reason rather than skipped."""
    base = root / part.path
    for file in _walk_files(base):
        rel = file.relative_to(base)
        origin = (Path(part.path) / rel).as_posix()
        if len(rel.parts) < 2:
            yield Unit(
                source.key,
                origin,
                file,
                part.faces,
                [Candidate("")],
                error=("no_label", "file is not inside a class folder"),
            )
            continue
        yield Unit(source.key, origin, file, part.faces, [Candidate(rel.parts[0])])


def read_single_class(source: Source, root: Path, part: Part) -> Iterator[Unit]:
    """A folder whose every file has the part's one raw label (FFHQ, RMFD's masked and
    unmasked trees); sub-folders, such as RMFD's one per person, are kept in `origin`."""
    base = root / part.path
    for file in _walk_files(base):
        origin = (Path(part.path) / file.relative_to(base)).as_posix()
        yield Unit(source.key, origin, file, part.faces, [Candidate(str(part.label))])


def _voc_int(node, tag: str) -> int:
    return round(float(node.findtext(tag)))


def read_voc(source: Source, root: Path, part: Part) -> Iterator[Unit]:
    """PASCAL VOC: `annotations/*.xml` name an image in `images/`, one `<object>` per face."""
    base = root / part.path
    for xml in sorted((base / "annotations").glob("*.xml")):
        origin_xml = (Path(part.path) / "annotations" / xml.name).as_posix()
        try:
            tree = SafeET.parse(xml)
        except Exception as exc:  # defusedxml raises its own types besides ParseError
            yield Unit(
                source.key,
                origin_xml,
                xml,
                part.faces,
                [Candidate("")],
                error=("bad_annotation", f"{type(exc).__name__}: {exc}"),
            )
            continue
        ann = tree.getroot()
        filename = (ann.findtext("filename") or f"{xml.stem}.png").strip()
        image = base / "images" / Path(filename).name
        origin = (Path(part.path) / "images" / image.name).as_posix()
        candidates, seen = [], set()
        for i, obj in enumerate(ann.iter("object")):
            raw = (obj.findtext("name") or "").strip()
            bnd = obj.find("bndbox")
            where = f"{origin_xml}#object{i}"
            try:
                box = tuple(_voc_int(bnd, t) for t in ("xmin", "ymin", "xmax", "ymax"))
            except (AttributeError, TypeError, ValueError):
                yield Unit(
                    source.key,
                    where,
                    xml,
                    part.faces,
                    [Candidate(raw)],
                    error=("bad_box", "bndbox missing or not numeric"),
                )
                continue
            if box in seen:
                yield Unit(
                    source.key,
                    where,
                    xml,
                    part.faces,
                    [Candidate(raw, box)],
                    error=("duplicate_box", f"box={box} annotated twice"),
                )
                continue
            seen.add(box)
            candidates.append(Candidate(raw, box))
        if not candidates:
            yield Unit(
                source.key,
                origin,
                image,
                part.faces,
                [Candidate("")],
                error=("no_faces_annotated", origin_xml),
            )
            continue
        if not image.is_file():
            yield Unit(
                source.key,
                origin,
                image,
                part.faces,
                candidates,
                error=("missing_image", f"{filename} named by {origin_xml}"),
            )
            continue
        yield Unit(source.key, origin, image, part.faces, candidates)


READERS: dict[str, Callable[[Source, Path, Part], Iterator[Unit]]] = {
    "folder_per_class": read_folder_per_class,
    "single_class": read_single_class,
    "voc": read_voc,
}


def collect_units(source: Source, root: Path) -> list[Unit]:
    if not source.parts:
        raise SourceError(
            f"maskset cannot read the layout of {source.key} yet: its files are in {root}, but the "
            "catalog declares no `parts` for it"
        )
    units: list[Unit] = []
    for part in source.parts:
        if not (root / part.path).is_dir():
            print(f"ingest {source.key}: no folder {part.path!r} under {root}; that part is not there")
            continue
        units.extend(READERS[part.layout](source, root, part))
    return units


# ---------------------------------------------------------------- per-photo work


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


def process_unit(
    unit: Unit, *, source: Source, config: IngestConfig, faces_dir: Path, relative_to: Path
) -> tuple[list[dict], list[dict]]:
    """Decode one photo once and turn each expected face into a crop row or a rejection."""
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
    group = "g" + stable_id(unit.source, unit.origin)
    rows = []
    for cand, label in labelled:
        if unit.mode == "detect":
            found = detect_faces(rgb, config.detector_upsample, min_score=config.detector_min_score)
            boxes = [b for b in found if min(b[2] - b[0], b[3] - b[1]) >= config.min_face]
            if not boxes:
                rejected.append(
                    _reject(
                        unit,
                        cand,
                        "no_face_detected",
                        f"{len(found)} detections, none with a side >= min_face={config.min_face} "
                        f"in {width}x{height}",
                        label,
                    )
                )
                continue
        elif unit.mode == "boxes":
            boxes = [cand.box]
        else:
            boxes = [None]
        for box in boxes:
            if box is not None:
                x0, y0, x1, y1 = box
                cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
                if cx1 - cx0 < config.min_face or cy1 - cy0 < config.min_face:
                    rejected.append(
                        _reject(
                            unit,
                            Candidate(cand.label_raw, box),
                            "tiny_box",
                            f"box={box} in {width}x{height}, min_face={config.min_face}",
                            label,
                        )
                    )
                    continue
                x0, y0, x1, y1 = crop_box((cx0, cy0, cx1, cy1), width, height, config.margin)
                face = rgb[y0:y1, x0:x1]
                box = (x0, y0, x1, y1)
            else:
                face = rgb
            row_id = Candidate(cand.label_raw, box).key(unit.source, unit.origin, unit.mode)
            path = faces_dir / unit.source / f"{row_id}.png"
            save_png(face, path)
            rows.append(
                {
                    "id": row_id,
                    "candidate": cand.key(unit.source, unit.origin, unit.mode),
                    "source": unit.source,
                    "origin": unit.origin,
                    "box": list(box) if box is not None else None,
                    "path": os.path.relpath(path, relative_to),
                    "width": face.shape[1],
                    "height": face.shape[0],
                    **content_hashes(face),
                    "label": label,
                    "label_raw": cand.label_raw,
                    "group": group,
                    "synthetic": False,
                }
            )
    return rows, rejected


def ingest_source(
    source: Source, root: Path, config: IngestConfig, faces_dir: Path, relative_to: Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All faces of one downloaded source: (manifest, rejected), every candidate accounted for."""
    units = collect_units(source, root)
    work = partial(process_unit, source=source, config=config, faces_dir=faces_dir, relative_to=relative_to)
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
    for r in rows:
        del r["candidate"]
    return new_manifest(rows), new_rejected(rejected)
