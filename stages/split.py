"""split: train / val / test by group, the leakage report, and an ImageFolder tree (split.imagefolder)."""

from pipeline.atomic import atomic_dir
from pipeline.config import parse
from pipeline.errors import InvariantError
from pipeline.manifest import read_manifest
from pipeline.split import SplitConfig, link_imagefolder, split
from stages.common import (
    accounting,
    known_sources,
    load_params,
    nothing_reached,
    run,
    section,
    write_counts,
    write_tables,
)
from stages.paths import manifest_of, stage_dir

OUT = stage_dir("split")


def main() -> None:
    params = load_params()
    config = parse(SplitConfig, section("split", params), "split")
    limit = accounting(params).max_label_skew
    df = read_manifest(manifest_of("synthesize"))
    if not nothing_reached("split", df):
        known_sources("split.holdout.sources", config.holdout.sources, df, "synthesize")
    kept, rejected, report = split(df, config)
    leaks = {k: v for k, v in report["leakage"].items() if v}
    if leaks:
        raise InvariantError(f"split: leakage across splits {leaks}")
    with atomic_dir(OUT) as staging:
        if config.imagefolder:
            link_imagefolder(kept, staging / "imagefolder")
        write_tables(staging, kept, rejected)
    write_counts("split", len(df), kept, rejected, report, limit)


if __name__ == "__main__":
    run(main)
