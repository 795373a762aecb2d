"""dedup: datasets/ingest/manifest.parquet -> datasets/dedup/ (see pipeline/dedup.py)."""

from pathlib import Path

from pipeline.dedup import DedupConfig, dedup, dedup_report
from stages.common import run, transform


def main() -> None:
    transform("dedup", DedupConfig, dedup, Path("datasets/ingest"), Path("datasets/dedup"), dedup_report)


if __name__ == "__main__":
    run(main)
