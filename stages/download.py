"""download@<source>: fetch one catalog source into datasets/raw/<source>/."""

from __future__ import annotations

import sys

from pipeline.atomic import atomic_dir, write_json
from pipeline.download import Places, fetch_source, file_count
from pipeline.errors import SourceError
from pipeline.sources import get_source, load_catalog
from stages.common import load_params, run
from stages.paths import CATALOG_FILE, DOWNLOADS, SOURCES_LOCK, raw_dir


def main() -> None:
    if len(sys.argv) != 2:
        raise SourceError("usage: python -m stages.download <source key>")
    key = sys.argv[1]
    source = get_source(load_catalog(CATALOG_FILE), key)
    options = (load_params().get("download") or {}).get(key) or {}
    with atomic_dir(raw_dir(key)) as target:
        record = fetch_source(source, options, target, Places(DOWNLOADS / key, SOURCES_LOCK))
        write_json(record, target / "SOURCE.json")
    print(f"download@{key}: {file_count(record)} file(s), recorded in {raw_dir(key) / 'SOURCE.json'}")


if __name__ == "__main__":
    run(main)
