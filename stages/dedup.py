"""dedup: the ingest manifest -> datasets/dedup/ (see pipeline/dedup.py)."""

from pipeline.dedup import DedupConfig, dedup, dedup_report
from stages.common import run, transform


def main() -> None:
    transform("dedup", DedupConfig, dedup, dedup_report)


if __name__ == "__main__":
    run(main)
