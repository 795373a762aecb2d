"""Corrections: what a person decided about single faces, applied at the next ingest.

Inspection closes the loop here. In the FiftyOne App a reviewer tags a face `bad_image`
(exclude it) or `relabel:<label>` (its label is wrong); `maskset corrections` writes those
tags into `datasets/corrections.yaml`, a committed file the ingest stage depends on, so the
next `dvc repro` rebuilds everything downstream with the fix, and every fixed row says so
in its `review` column (an excluded one is a rejection with reason `excluded_by_review`).
Keys are manifest ids, which are stable across runs (content- and position-derived).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import yaml

from pipeline.atomic import atomic_path
from pipeline.errors import ParamsError
from pipeline.manifest import LABELS, reject_rows

EXCLUDE_TAG = "bad_image"
RELABEL_PREFIX = "relabel:"
HEADER = """\
# Reviews of single faces, applied by the ingest stage (see pipeline/corrections.py).
# `maskset corrections` writes this from tags set in the FiftyOne App: `bad_image` -> exclude,
# `relabel:<mask|no_mask|incorrect_mask>` -> relabel. Editing by hand is fine:
#   <manifest id>: {action: exclude, note: why}
#   <manifest id>: {action: relabel, label: mask, note: why}
"""


def load_corrections(path: Path) -> dict[str, dict]:
    """id -> {action, label?, note?}; a missing file is no corrections. Malformed entries
    fail with the id and what is wrong, before any work."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from exc
    entries = data.get("corrections") or {}
    if not isinstance(entries, dict):
        raise ParamsError(f"{path}: `corrections:` must map manifest ids to entries")
    for key, entry in entries.items():
        action = entry.get("action") if isinstance(entry, dict) else None
        if action not in ("exclude", "relabel"):
            raise ParamsError(f"{path}: {key}: action must be exclude or relabel, got {entry!r}")
        if action == "relabel" and entry.get("label") not in LABELS:
            raise ParamsError(f"{path}: {key}: relabel needs label in {LABELS}, got {entry.get('label')!r}")
    return {str(k): v for k, v in entries.items()}


def apply_corrections(
    df: pd.DataFrame, corrections: dict[str, dict]
) -> tuple[pd.DataFrame, list[dict], list[str]]:
    """(manifest with relabels applied and recorded, rejection rows for exclusions, ids of
    corrections that matched no row, e.g. a face a source no longer has)."""
    df = df.copy()
    if "review" not in df:
        df["review"] = None
    excluded, notes, matched = [], [], set()
    for i, row in df.iterrows():
        entry = corrections.get(row["id"])
        if entry is None:
            continue
        matched.add(row["id"])
        note = f" ({entry['note']})" if entry.get("note") else ""
        if entry["action"] == "exclude":
            excluded.append(i)
            notes.append(f"datasets/corrections.yaml{note}")
        elif entry["label"] != row["label"]:
            df.at[i, "review"] = f"relabel {row['label']}->{entry['label']}{note}"
            df.at[i, "label"] = entry["label"]
    rejected = reject_rows(df.loc[excluded], "ingest", ["excluded_by_review"] * len(excluded), notes)
    kept = df.drop(index=excluded).reset_index(drop=True)
    return kept, rejected.to_dict("records"), sorted(set(corrections) - matched)


def corrections_from_tags(samples: Iterable[dict]) -> tuple[dict[str, dict], list[str]]:
    """Entries from reviewed samples ({id, tags, synthetic}), and why some tags were not
    turned into one. A synthetic face is not ingested, so its fix is its parent's or the
    synthesis params', not an entry here."""
    entries, skipped = {}, []
    for sample in samples:
        tags = set(sample.get("tags") or ())
        relabels = sorted(t.removeprefix(RELABEL_PREFIX) for t in tags if t.startswith(RELABEL_PREFIX))
        wanted = EXCLUDE_TAG in tags or relabels
        if not wanted:
            continue
        if sample.get("synthetic"):
            skipped.append(
                f"{sample['id']}: synthetic (exclude its parent {sample.get('parent_id')} instead)"
            )
        elif EXCLUDE_TAG in tags:
            entries[sample["id"]] = {"action": "exclude", "note": "tagged bad_image in the App"}
        elif len(relabels) > 1 or relabels[0] not in LABELS:
            skipped.append(f"{sample['id']}: relabel tags {relabels} (need exactly one of {LABELS})")
        else:
            entries[sample["id"]] = {"action": "relabel", "label": relabels[0], "note": "tagged in the App"}
    return entries, skipped


def write_corrections(path: Path, entries: dict[str, dict]) -> None:
    """Merge `entries` into the file (new decisions win), keeping the header."""
    merged = load_corrections(path) | entries
    with atomic_path(path) as tmp:
        tmp.write_text(
            HEADER + yaml.safe_dump({"corrections": dict(sorted(merged.items()))}, sort_keys=False)
        )
