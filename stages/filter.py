"""filter: the dedup manifest -> datasets/filter/ (see pipeline/filters.py)."""

from pipeline.filters import FilterConfig, apply_filters, filter_report
from stages.common import run, transform


def main() -> None:
    transform("filter", FilterConfig, apply_filters, filter_report)


if __name__ == "__main__":
    run(main)
