"""ingest: every enabled source's raw files into one manifest of face crops."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.corrections import apply_corrections, load_corrections
from pipeline.download import data_root
from pipeline.errors import SourceError
from pipeline.ingest import IngestConfig, ingest_source, join_copies
from pipeline.manifest import new_rejected
from pipeline.sources import get_source, load_catalog
from stages.common import CATALOG_FILE, load_params, run, section, to_config, write_stage_outputs

RAW = Path("datasets/raw")
CORRECTIONS = Path("datasets/corrections.yaml")
OUT = Path("datasets/ingest")


def main() -> None:
    params = load_params()
    config = to_config(IngestConfig, section("ingest", params), "ingest")
    catalog = load_catalog(CATALOG_FILE)
    keys = params.get("sources") or []
    if not keys:
        raise SourceError("params.yaml `sources:` is empty: name at least one catalog source")
    manifests, rejections = [], []
    for key in keys:
        source = get_source(catalog, key)
        root = RAW / key
        if not root.is_dir():
            raise SourceError(f"{root} does not exist: run `dvc repro download@{key}` first")
        kept, rejected = ingest_source(source, data_root(root), config, OUT / "faces", Path.cwd())
        manifests.append(kept)
        rejections.append(rejected)
    kept, rejected = join_copies(pd.concat(manifests, ignore_index=True)), pd.concat(rejections)
    n_in = len(kept) + len(rejected)
    kept, excluded, stale = apply_corrections(kept, load_corrections(CORRECTIONS))
    if stale:
        print(f"ingest: {len(stale)} correction(s) in {CORRECTIONS} match no face, e.g. {stale[:3]}")
    rejected = pd.concat([rejected, new_rejected(excluded)], ignore_index=True)
    write_stage_outputs("ingest", OUT, n_in, kept, rejected)


if __name__ == "__main__":
    run(main)
