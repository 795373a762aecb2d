"""The source catalog (datasets/sources.yaml) as typed, validated objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.errors import SourceError
from pipeline.manifest import LABELS

LAYOUTS = ("folder_per_class", "single_class", "voc")
FACE_MODES = ("crops", "detect", "boxes")


@dataclass(frozen=True)
class Part:
    path: str
    layout: str
    faces: str
    label: str | None = None  # single_class: the raw label of every file under `path`


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

    def map_label(self, raw: str) -> str | None:
        """The canonical label of a raw one, or None when the catalog does not know it.
        Matching ignores case, spaces, dashes and underscores (`WithMask` == `with_mask`)."""
        wanted = _normal(raw)
        for key, label in self.label_map.items():
            if _normal(key) == wanted:
                return label
        return None


def _normal(text: str) -> str:
    return "".join(ch for ch in str(text).lower() if ch.isalnum())


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
    parts = []
    for part in entry["parts"]:
        if part.get("layout") not in LAYOUTS or part.get("faces") not in FACE_MODES:
            raise SourceError(
                f"sources.yaml: {key} part {part}: layout must be one of {LAYOUTS} "
                f"and faces one of {FACE_MODES}"
            )
        if (part["layout"] == "single_class") != ("label" in part):
            raise SourceError(
                f"sources.yaml: {key} part {part}: `label` is required by, and only allowed with, "
                "layout single_class"
            )
        parts.append(Part(part["path"], part["layout"], part["faces"], part.get("label")))
    return Source(
        key=key,
        title=entry["title"],
        licence=" ".join(str(entry["licence"]).split()),
        citation=" ".join(str(entry["citation"]).split()),
        fetch=dict(entry["fetch"]),
        label_map={str(k): v for k, v in entry["label_map"].items()},
        parts=tuple(parts),
        description=" ".join(str(entry.get("description", "")).split()),
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
