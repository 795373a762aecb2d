"""filter: datasets/dedup/manifest.parquet -> datasets/filter/ (see pipeline/filters.py)."""

from pathlib import Path

from pipeline.filters import FilterConfig, apply_filters, filter_report
from stages.common import run, transform


def main() -> None:
    transform(
        "filter", FilterConfig, apply_filters, Path("datasets/dedup"), Path("datasets/filter"), filter_report
    )


if __name__ == "__main__":
    run(main)
