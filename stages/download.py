"""download@<source>: fetch one catalog source into datasets/raw/<source>/."""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.atomic import atomic_dir, write_json
from pipeline.demo import build_demo
from pipeline.errors import SourceError
from pipeline.sources import get_source, load_catalog
from stages.common import CATALOG_FILE, load_params, run

RAW = Path("datasets/raw")


def main() -> None:
    if len(sys.argv) != 2:
        raise SourceError("usage: python -m stages.download <source key>")
    key = sys.argv[1]
    source = get_source(load_catalog(CATALOG_FILE), key)
    options = load_params().get("download", {}).get(key, {})
    kind = source.fetch.get("kind")
    with atomic_dir(RAW / key) as target:
        if kind == "builtin" and key == "demo":
            counts = build_demo(target, **options)
        else:
            raise SourceError(
                f"source {key!r} needs a {kind!r} download, which this version cannot do yet; "
                "only the offline `demo` source can be built"
            )
        write_json(
            {
                "key": key,
                "title": source.title,
                "licence": source.licence,
                "citation": source.citation,
                "files": counts,
            },
            target / "SOURCE.json",
        )
    print(f"download@{key}: {counts}")


if __name__ == "__main__":
    run(main)
