"""Every path and name of the project's layout, in one place.

Stage scripts and the `maskset` command use these; the library (`pipeline/`) never sees
them, it takes paths as arguments. dvc.yaml declares the same paths as deps and outs
(tests/test_dvc_deps.py checks the stage list against it). All are relative to the project
root, where DVC runs every stage.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PARAMS_FILE = Path("params.yaml")
DATASETS = Path("datasets")
CATALOG_FILE = DATASETS / "sources.yaml"
CORRECTIONS_FILE = DATASETS / "corrections.yaml"
SOURCES_LOCK = DATASETS / "sources.lock"
RAW = DATASETS / "raw"
DOWNLOADS = DATASETS / "downloads"
REPORTS = Path("reports")
COUNTS = REPORTS / "counts"
MODELS = Path("models")
EVALUATE = REPORTS / "evaluate"
AUDIT = REPORTS / "audit"
DATASHEET = REPORTS / "DATASHEET.md"
CONTACT_SHEET = REPORTS / "synthesize" / "contact_sheet.png"
INSPECT_SUMMARY = REPORTS / "inspect.json"
PREDICTIONS = Path("predictions")  # `maskset predict --out`'s default
EXPORTS = Path("exports")  # `maskset export`'s: outside models/, which DVC owns
# train's decoded faces, memory-mapped (train.cache: disk): rebuilt when the rows change
TENSOR_CACHE = Path(".cache") / "tensors"
NODE_MODULES = Path("node_modules")  # `npm ci`'s: the Vega libraries for the plots page
# `maskset plots-page`'s, named in .dvc/config.local; DVC reads a relative name from .dvc/
PLOTS_PAGE = Path(".dvc") / "plots.html"

# the data stages, in the order they run; each reads the previous one's manifest
DATA_STAGES = ("ingest", "dedup", "filter", "landmarks", "synthesize", "split")


def stage_dir(stage: str) -> Path:
    return DATASETS / stage


def manifest_of(stage: str) -> Path:
    return stage_dir(stage) / "manifest.parquet"


def rejected_of(stage: str) -> Path:
    return stage_dir(stage) / "rejected.parquet"


def counts_of(stage: str) -> Path:
    return COUNTS / f"{stage}.json"


def report_of(stage: str) -> Path:
    return REPORTS / f"{stage}.json"


def previous_stage(stage: str) -> str:
    """The data stage whose manifest `stage` reads (train, evaluate, ...: split)."""
    if stage not in DATA_STAGES:
        return DATA_STAGES[-1]
    return DATA_STAGES[max(DATA_STAGES.index(stage) - 1, 0)]


def raw_dir(source: str) -> Path:
    return RAW / source


def model_dir(name: str) -> Path:
    return MODELS / name


def evaluate_dir(name: str) -> Path:
    return EVALUATE / name


def dvclive_dir(name: str) -> Path:
    return Path("dvclive") / "train" / name


def project_tag(root: Path | None = None) -> str:
    """`<folder name>-<8 hex of its real path>`: the same for one working copy on every
    run, different for two checkouts (or a DVC experiment's temporary copy)."""
    real = Path(os.path.realpath(root or Path.cwd()))
    return f"{real.name}-{hashlib.sha256(str(real).encode()).hexdigest()[:8]}"


def fiftyone_dataset(setting: str, root: Path | None = None) -> str:
    """inspect.dataset_name: `auto` is this working copy's own name, so two checkouts never
    overwrite each other's dataset; anything else is taken as it is."""
    return f"maskset-{project_tag(root)}" if setting == "auto" else setting


def fiftyone_database(setting: str | None, root: Path | None = None) -> Path | None:
    """inspect.database_dir: where FiftyOne's MongoDB keeps its files, relative to the
    project unless absolute (`~` expanded); None leaves FiftyOne's own configuration."""
    if setting is None:
        return None
    path = Path(os.path.expanduser(setting))
    return path if path.is_absolute() else Path(os.path.realpath(root or Path.cwd())) / path
