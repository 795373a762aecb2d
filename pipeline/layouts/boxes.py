"""Layouts where annotation files box the faces on whole photos: PASCAL VOC XML, per-image
JSON (Wobot's `Medical Mask` set) and one CSV table of boxes.

Each format is parsed into `Annotated` records; one shared path then checks every box, joins
the records to image files and rejects what cannot be a face, so the three formats agree on
every reason: bad_box, degenerate_box, duplicate_box, not_a_face, missing_image,
no_faces_annotated, no_annotation (an image no record names) and bad_annotation.
"""

from __future__ import annotations

import glob
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import defusedxml.ElementTree as SafeET
import pandas as pd

from pipeline.layouts.units import Candidate, Problem, Unit, group_of, origin_of, walk_files
from pipeline.sources import Part, Source

# An annotation file of one photo is a few kB; anything far larger is not one.
MAX_ANNOTATION_BYTES = 10_000_000


@dataclass
class Annotated:
    """The boxes one annotation record gives for one image, as written there."""

    where: str  # the record's origin: annotations/x.xml, train.csv#row12
    image: str  # the image's path under the part's image folder, as annotated
    objects: list[tuple[str, str, object]] = field(default_factory=list)  # (where, raw label, box)
    size: tuple[int, int] | None = None


def parse_box(values: object) -> tuple[tuple[int, int, int, int] | None, Problem | None]:
    """(xmin, ymin, xmax, ymax) rounded to pixels, or why not."""
    try:
        numbers = [float(v) for v in values]  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None, ("bad_box", f"box {values!r} is not four numbers")
    if len(numbers) != 4 or not all(math.isfinite(v) for v in numbers):
        return None, ("bad_box", f"box {values!r} is not four finite numbers")
    x0, y0, x1, y1 = (round(v) for v in numbers)
    if x1 <= x0 or y1 <= y0:
        return None, ("degenerate_box", f"box={[x0, y0, x1, y1]} has no area (xmax <= xmin or ymax <= ymin)")
    return (x0, y0, x1, y1), None


def _image_path(images: Path, name: str) -> tuple[Path | None, str]:
    """The annotated image inside the image folder; annotations may not point outside it."""
    rel = PurePosixPath(name.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        return None, name
    return images.joinpath(*rel.parts), rel.as_posix()


def _namesakes(file: Path) -> str:
    """A hint when the annotated name is absent but the same name with another extension is
    there (annotations naming .jpg for .png files): every box would be missing otherwise."""
    others = sorted(p.name for p in file.parent.glob(f"{glob.escape(file.stem)}.*") if p != file)
    return f"; {', '.join(others)} is there: the annotation's extension differs" if others else ""


def units_from_annotations(
    source: Source, root: Path, part: Part, records: Iterator[Annotated | Unit]
) -> Iterator[Unit]:
    """Check every box of every record, and reject images no record names."""
    base = root / part.path
    images = base / part.images
    by_image: dict[str, list[Annotated]] = {}
    for record in records:
        if isinstance(record, Unit):  # a record that could not be parsed at all
            yield record
            continue
        path, rel = _image_path(images, record.image)
        if path is None:
            yield Unit(
                source.key,
                record.where,
                base,
                part.faces,
                [Candidate("")],
                error=("bad_annotation", f"image name {record.image!r} leaves the image folder"),
            )
            continue
        by_image.setdefault(rel, []).append(record)

    for rel, records_of_image in sorted(by_image.items()):
        file = images.joinpath(*PurePosixPath(rel).parts)
        origin = origin_of(part, Path(part.images, rel))
        group = group_of(source, part, origin, None, PurePosixPath(rel).stem)
        candidates, seen = [], set()
        sizes = {r.size for r in records_of_image if r.size}
        for record in records_of_image:
            for where, raw, values in record.objects:
                box, problem = parse_box(values)
                if problem is None and source.is_not_face(raw):
                    problem = ("not_a_face", f"class {raw!r} boxes an object, not a face (catalog not_faces)")
                if problem is None and box is not None and box in seen:
                    problem = ("duplicate_box", f"box={list(box)} annotated twice")
                if problem:
                    yield Unit(source.key, where, file, part.faces, [Candidate(raw, box)], error=problem)
                    continue
                seen.add(box)
                candidates.append(Candidate(raw, box))
        where = ", ".join(sorted({r.where for r in records_of_image}))
        error: Problem | None = None
        if len(sizes) > 1:
            error = ("bad_annotation", f"{where} give different image sizes {sorted(sizes)}")
        elif not file.is_file():
            error = ("missing_image", f"{rel} named by {where} is not in {part.images}/{_namesakes(file)}")
        if not candidates:
            candidates, error = [Candidate("")], error or ("no_faces_annotated", f"{where} boxes no face")
        yield Unit(
            source.key,
            origin,
            file,
            part.faces,
            candidates,
            error=error,
            group=group,
            size=next(iter(sizes)) if len(sizes) == 1 else None,
        )

    for file, problem in walk_files(images):
        rel = file.relative_to(images).as_posix()
        if rel not in by_image:
            origin = origin_of(part, Path(part.images, rel))
            yield Unit(
                source.key,
                origin,
                file,
                part.faces,
                [Candidate("")],
                error=problem or ("no_annotation", f"no record in {part.annotations} names this image"),
                group=group_of(source, part, origin, None, file.stem),
            )


def _each_annotation_file(
    source: Source, root: Path, part: Part, pattern: str, parse: Callable[[Path, str], Annotated | Unit]
) -> Iterator[Annotated | Unit]:
    """parse(file, where) for each annotation file; a file too large to be an annotation, or
    one `parse` fails on with ValueError (a refused or malformed record), is a rejection."""
    for file in sorted((root / part.path / part.annotations).glob(pattern)):
        where = origin_of(part, Path(part.annotations, file.name))
        size = file.stat().st_size
        if size > MAX_ANNOTATION_BYTES:
            yield _bad_record(source, part, where, file, f"{size} bytes > {MAX_ANNOTATION_BYTES}")
            continue
        try:
            yield parse(file, where)
        except ValueError as exc:
            yield _bad_record(source, part, where, file, str(exc))


def _bad_record(source: Source, part: Part, where: str, file: Path, detail: str) -> Unit:
    return Unit(source.key, where, file, part.faces, [Candidate("")], error=("bad_annotation", detail))


def parse_voc(source: Source, root: Path, part: Part) -> Iterator[Annotated | Unit]:
    """PASCAL VOC: one XML per image, one `<object>` with `<name>` and `<bndbox>` per face."""

    def parse(file: Path, where: str) -> Annotated:
        return read_voc(file, where, lambda: _image_named_like(root, part, file))

    return _each_annotation_file(source, root, part, "*.xml", parse)


def read_voc(file: Path, where: str, unnamed: Callable[[], str]) -> Annotated:
    """One VOC file's record; `unnamed()` names the image where `<filename>` is absent.
    Parsed by defusedxml, which refuses entity expansion and external entities; a file it
    cannot read is a ValueError saying why."""
    try:
        ann = SafeET.parse(file).getroot()
    except Exception as exc:  # defusedxml raises its own types besides ParseError
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc
    record = Annotated(where, (ann.findtext("filename") or "").strip() or unnamed())
    width, height = ann.findtext("size/width"), ann.findtext("size/height")
    if width and height and width.strip().isdigit() and height.strip().isdigit() and int(width) > 0:
        record.size = (int(width), int(height))
    for i, obj in enumerate(ann.iter("object")):
        bnd = obj.find("bndbox")
        values = [None if bnd is None else bnd.findtext(t) for t in ("xmin", "ymin", "xmax", "ymax")]
        record.objects.append((f"{where}#object{i}", (obj.findtext("name") or "").strip(), values))
    return record


def _image_named_like(root: Path, part: Part, xml: Path) -> str:
    """VOC files without `<filename>`: the image with the XML's stem, whatever its extension."""
    matches = sorted((root / part.path / part.images).glob(f"{xml.stem}.*"))
    return matches[0].name if matches else f"{xml.stem}.png"


def parse_box_json(source: Source, root: Path, part: Part) -> Iterator[Annotated | Unit]:
    """One JSON per image, `<image name>.json`, as in Wobot's face-mask set:
    {"FileName": ..., "Annotations": [{"classname": ..., "BoundingBox": [x1, y1, x2, y2]}]}."""

    def parse(file: Path, where: str) -> Annotated:
        try:
            data = json.loads(file.read_bytes())
            name = str(data.get("FileName") or file.stem)
            objects = [(str(a["classname"]), a["BoundingBox"]) for a in data["Annotations"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a box record: {type(exc).__name__}: {exc}") from exc
        record = Annotated(where, name)
        record.objects = [(f"{where}#object{i}", raw.strip(), box) for i, (raw, box) in enumerate(objects)]
        return record

    return _each_annotation_file(source, root, part, "*.json", parse)


def parse_box_csv(source: Source, root: Path, part: Part) -> Iterator[Annotated | Unit]:
    """One table, one row per box. `columns` names the columns holding file name, xmin, ymin,
    xmax, ymax and label: Wobot's train.csv heads its columns x1, x2, y1, y2 but holds
    x1, y1, x2, y2 in them, so its catalog entry names them in that order."""
    table = root / part.path / part.annotations
    where = origin_of(part, part.annotations)
    try:
        df = pd.read_csv(table, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        yield _bad_record(source, part, where, table, f"{type(exc).__name__}: {exc}")
        return
    missing = [c for c in part.columns if c not in df.columns]
    if missing:
        yield _bad_record(source, part, where, table, f"columns {missing} not in {list(df.columns)}")
        return
    yield from table_records(df, part.columns, where)


def table_records(df: pd.DataFrame, columns: tuple[str, ...], where: str) -> Iterator[Annotated]:
    """A box table's records, one per image; `columns` are name, xmin, ymin, xmax, ymax and
    label, or the first five where the table has no label. Rows are named by their line."""
    name, *box_columns = columns[:5]
    label = columns[5] if len(columns) > 5 else None
    for image, rows in df.groupby(name, sort=True):
        record = Annotated(f"{where}#{image}", str(image))
        for i, row in rows.iterrows():
            values = [row[c] for c in box_columns]
            raw = row[label].strip() if label else ""
            record.objects.append((f"{where}#row{int(i) + 2}", raw, values))
        yield record
