"""The source catalog (datasets/sources.yaml) as typed, validated objects."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

import pandas as pd
import yaml

from pipeline.config import parse
from pipeline.errors import SourceError
from pipeline.manifest import LABELS, WEARS

BOX_LAYOUTS = ("voc", "box_json", "box_csv")
# box_csv: the columns holding file name, xmin, ymin, xmax, ymax and the raw label, in that order
DEFAULT_COLUMNS = ("name", "xmin", "ymin", "xmax", "ymax", "label")


Layout = Literal["folder_per_class", "single_class", "name_suffix", "voc", "box_json", "box_csv"]
FaceMode = Literal["crops", "detect", "boxes"]
Grouping = Literal["photo", "folder", "name"]


@dataclass(frozen=True)
class Part:
    """One folder of a source and how to read it; see the header of sources.yaml."""

    path: str
    layout: Layout
    faces: FaceMode
    label: str | None = None  # single_class: the raw label of every file under `path`
    group: Grouping = "photo"  # what the rows of one split group share
    images: str = "images"  # box layouts: the image folder, under `path`
    annotations: str = "annotations"  # voc / box_json: folder; box_csv: the table file
    # box_csv only: the columns holding file name, xmin, ymin, xmax, ymax and the raw label
    columns: tuple[str, str, str, str, str, str] = DEFAULT_COLUMNS

    def __post_init__(self) -> None:
        if (self.layout == "single_class") != (self.label is not None):
            raise ValueError("`label` is required by, and only allowed with, layout single_class")
        if (self.layout in BOX_LAYOUTS) != (self.faces == "boxes"):
            raise ValueError(f"faces: boxes goes with, and only with, layouts {BOX_LAYOUTS}")


ATTRIBUTE_GROUPS = ("age", "gender", "race")
# what a label table may annotate: also an age band, where a source gives ages as ranges
TABLE_ATTRIBUTES = ("age", "age_band", "gender", "race")


@dataclass(frozen=True)
class Attributes:
    """Annotations a source has for each face, in one of two forms. `pattern`: a regular
    expression searched in the file name, with named groups among ATTRIBUTE_GROUPS (UTKFace's
    `<age>_<gender>_<race>_...`). `table`: label tables (CSV, under the source's root) with one
    row per image; `columns` maps `file` (the image's path under the root, as ingest's
    `origin`) and TABLE_ATTRIBUTES to the table's column names (FairFace's
    fairface_label_*.csv). `values` turns raw codes into names (gender: {"0": male})."""

    pattern: str = ""
    table: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict, hash=False)
    values: dict[str, dict[str, str]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if bool(self.pattern) == bool(self.table):
            raise ValueError("give either pattern (file names) or table (label tables), not both or neither")
        if self.table:
            names = set(self.columns) - {"file"}
            if "file" not in self.columns or not names or not names <= set(TABLE_ATTRIBUTES):
                raise ValueError(
                    f"columns must map file and some of {TABLE_ATTRIBUTES}, got {sorted(self.columns)}"
                )
        else:
            try:
                names = set(re.compile(self.pattern).groupindex)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from exc
            if not names or not names <= set(ATTRIBUTE_GROUPS):
                raise ValueError(f"pattern must name groups among {ATTRIBUTE_GROUPS}, got {sorted(names)}")
        if not set(self.values) <= names - {"age"}:
            raise ValueError(
                f"values may only name the annotated fields (not age), got {sorted(self.values)}"
            )

    def _named(self, raw: dict[str, str | None]) -> dict:
        """Raw annotations as manifest values: ages as numbers, codes through `values`; a
        missing field or a code `values` does not list is left out, never guessed."""
        out: dict = {}
        for name, value in raw.items():
            if value is None or value == "":
                continue
            if name == "age":
                if value.isdigit():
                    out["age"] = int(value)
            elif name in self.values:
                if value in self.values[name]:
                    out[name] = self.values[name][value]
            else:
                out[name] = value
        return out

    def load(self, root: Path) -> dict[str, dict]:
        """Table form: origin -> its annotations, from every table; {} for the pattern form."""
        found: dict[str, dict] = {}
        for name in self.table:
            path = Path(root) / name
            try:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            except (OSError, ValueError) as exc:  # pandas' parser errors are ValueErrors
                raise SourceError(f"the attributes table {path} cannot be read: {exc}") from None
            missing = sorted(set(self.columns.values()) - set(frame.columns))
            if missing:
                raise SourceError(
                    f"the attributes table {path} has no column(s) {missing}: {list(frame.columns)}"
                )
            fields = {k: c for k, c in self.columns.items() if k != "file"}
            for record in frame.to_dict("records"):
                origin = PurePosixPath(record[self.columns["file"]]).as_posix()
                found[origin] = self._named({k: record[c] for k, c in fields.items()})
        return found

    def of(self, origin: str, table: dict[str, dict] | None = None) -> dict:
        """The manifest's annotations of one file: from its name, or its row of the loaded
        `table`; none for a name the pattern misses (UTKFace has a few) or a file no table lists."""
        if self.table:
            return dict((table or {}).get(PurePosixPath(origin).as_posix(), {}))
        found = re.search(self.pattern, Path(origin).name)
        return {} if found is None else self._named(found.groupdict())


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    licence: str
    citation: str
    fetch: dict = field(hash=False)
    label_map: dict = field(hash=False)
    parts: tuple[Part, ...]
    description: str = ""
    wear_map: dict = field(default_factory=dict, hash=False)  # raw label -> how the mask is worn
    not_faces: frozenset[str] = frozenset()  # annotation classes that box objects, not faces
    synthetic: bool = False  # the masks (or whole faces) were generated, not photographed
    group_namespace: str = ""  # sources sharing photos share one; defaults to the key
    attributes: Attributes | None = None  # annotations per face (file names or label tables)

    def map_label(self, raw: str) -> str | None:
        """The canonical label of a raw one, or None when the catalog does not know it.
        Matching ignores case, spaces, dashes and underscores (`WithMask` == `with_mask`)."""
        return _lookup(self.label_map, raw)

    def wear(self, raw: str) -> str | None:
        return _lookup(self.wear_map, raw)

    def is_not_face(self, raw: str) -> bool:
        return _normal(raw) in {_normal(k) for k in self.not_faces}


def _normal(text: str) -> str:
    return "".join(ch for ch in str(text).lower() if ch.isalnum())


def _lookup(mapping: dict, raw: str) -> str | None:
    wanted = _normal(raw)
    for key, value in mapping.items():
        if _normal(key) == wanted:
            return value
    return None


def parse_source(key: str, entry: dict) -> Source:
    """Validate one catalog entry; errors name the source and the key to fix."""
    if not isinstance(entry, dict):
        raise SourceError(f"sources.yaml: {key} must be a mapping")
    missing = {"title", "licence", "citation", "fetch", "label_map", "parts"} - set(entry)
    if missing:
        raise SourceError(f"sources.yaml: {key} lacks {sorted(missing)}")
    bad = {k: v for k, v in entry["label_map"].items() if v not in LABELS}
    if bad:
        raise SourceError(f"sources.yaml: {key}.label_map maps to labels outside {LABELS}: {bad}")
    wear_map = {str(k): v for k, v in (entry.get("wear_map") or {}).items()}
    bad = {k: v for k, v in wear_map.items() if v not in WEARS}
    if bad:
        raise SourceError(f"sources.yaml: {key}.wear_map maps to values outside {WEARS}: {bad}")
    return Source(
        key=key,
        title=entry["title"],
        licence=" ".join(str(entry["licence"]).split()),
        citation=" ".join(str(entry["citation"]).split()),
        fetch=dict(entry["fetch"]),
        label_map={str(k): v for k, v in entry["label_map"].items()},
        parts=tuple(
            parse(Part, part, f"{key}.parts[{i}]", SourceError, "sources.yaml: ")
            for i, part in enumerate(entry["parts"])
        ),
        description=" ".join(str(entry.get("description", "")).split()),
        wear_map=wear_map,
        not_faces=frozenset(str(n) for n in entry.get("not_faces") or ()),
        synthetic=bool(entry.get("synthetic", False)),
        group_namespace=str(entry.get("group_namespace") or key),
        attributes=None
        if entry.get("attributes") is None
        else parse(Attributes, entry["attributes"], f"{key}.attributes", SourceError, "sources.yaml: "),
    )


def load_catalog(path: Path) -> dict[str, Source]:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SourceError(f"cannot read the source catalog {path}: {exc}") from exc
    return {key: parse_source(key, entry) for key, entry in (data or {}).items()}


def get_source(catalog: dict[str, Source], key: str) -> Source:
    if key not in catalog:
        raise SourceError(f"unknown source {key!r}; the catalog has {sorted(catalog)}")
    return catalog[key]


def data_root(raw: Path) -> Path:
    """Where ingest reads a downloaded source: its raw folder, or a local source's own folder."""
    try:
        record = json.loads((raw / "SOURCE.json").read_text())
    except (OSError, ValueError) as exc:
        raise SourceError(
            f"{raw}/SOURCE.json is missing or broken: rerun `dvc repro -f download@{raw.name}`"
        ) from exc
    return Path(record["root"]) if record.get("root") else raw
