"""ingest: every enabled source's raw files into one manifest of face crops."""

from __future__ import annotations

import pandas as pd

from pipeline.atomic import atomic_dir
from pipeline.config import parse
from pipeline.corrections import apply_corrections, load_corrections
from pipeline.errors import SourceError
from pipeline.ingest import IngestConfig, ingest_source, join_copies, photo_counts
from pipeline.manifest import new_rejected
from pipeline.sources import data_root, get_source, load_catalog
from stages.common import accounting, load_params, project, run, section, write_counts, write_tables
from stages.paths import CATALOG_FILE, CORRECTIONS_FILE, raw_dir, stage_dir

OUT = stage_dir("ingest")


def main() -> None:
    params = load_params()
    config = parse(IngestConfig, section("ingest", params), "ingest")
    limit = accounting(params).max_label_skew
    catalog = load_catalog(CATALOG_FILE)
    keys = project(params).sources
    for key in keys:
        get_source(catalog, key)  # an unknown key: one line naming the catalog's
        if not raw_dir(key).is_dir():
            raise SourceError(f"{raw_dir(key)} does not exist: run `dvc repro download@{key}` first")
    with atomic_dir(OUT) as staging:
        manifests, rejections = [], []
        for key in keys:
            root = data_root(raw_dir(key))
            kept, rejected = ingest_source(
                get_source(catalog, key), root, config, staging / "faces", OUT / "faces"
            )
            manifests.append(kept)
            rejections.append(rejected)
        kept = join_copies(pd.concat(manifests, ignore_index=True))
        rejected = pd.concat(rejections)
        n_in = len(kept) + len(rejected)
        kept, excluded, stale = apply_corrections(kept, load_corrections(CORRECTIONS_FILE))
        if stale:
            print(f"ingest: {len(stale)} correction(s) in {CORRECTIONS_FILE} match no face, e.g. {stale[:3]}")
        rejected = pd.concat([rejected, new_rejected(excluded)], ignore_index=True)
        write_tables(staging, kept, rejected)
    write_counts("ingest", n_in, kept, rejected, {"photos": photo_counts(kept, rejected)}, limit)


if __name__ == "__main__":
    run(main)
