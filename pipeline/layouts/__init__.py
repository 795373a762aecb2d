"""One reader per source layout; each turns a folder into units of work for ingest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from pipeline.errors import SourceError
from pipeline.layouts.boxes import parse_box_csv, parse_box_json, parse_voc, units_from_annotations
from pipeline.layouts.folders import read_folder_per_class, read_name_suffix, read_single_class
from pipeline.layouts.units import Candidate, Unit
from pipeline.sources import Part, Source

__all__ = ["READERS", "Candidate", "Unit", "collect_units"]

Reader = Callable[[Source, Path, Part], Iterator[Unit]]


def _boxes(parse) -> Reader:
    def read(source: Source, root: Path, part: Part) -> Iterator[Unit]:
        return units_from_annotations(source, root, part, parse(source, root, part))

    return read


READERS: dict[str, Reader] = {
    "folder_per_class": read_folder_per_class,
    "single_class": read_single_class,
    "name_suffix": read_name_suffix,
    "voc": _boxes(parse_voc),
    "box_json": _boxes(parse_box_json),
    "box_csv": _boxes(parse_box_csv),
}


def collect_units(source: Source, root: Path) -> list[Unit]:
    """Every unit of every part of a source. A part whose folder is absent is reported and
    skipped (`download.rmfd.files` may fetch only some parts); all of them absent is an error."""
    if not source.parts:
        raise SourceError(
            f"maskset cannot read the layout of {source.key} yet: its files are in {root}, but the "
            "catalog declares no `parts` for it"
        )
    missing = [p.path for p in source.parts if not (root / p.path).is_dir()]
    if len(missing) == len(source.parts):
        raise SourceError(
            f"{source.key}: none of its parts {missing} is under {root}; check the download "
            f"(`dvc repro -f download@{source.key}`) or the catalog's `parts`"
        )
    units: list[Unit] = []
    for part in source.parts:
        if part.path in missing:
            print(f"ingest {source.key}: no folder {part.path!r} under {root}; that part is skipped")
            continue
        units.extend(READERS[part.layout](source, root, part))
    return units
