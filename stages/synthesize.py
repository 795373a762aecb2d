"""synthesize: masked copies of selected unmasked faces (see pipeline/synthesize.py)."""

from pipeline.atomic import atomic_dir
from pipeline.config import parse
from pipeline.images import save_png
from pipeline.manifest import read_manifest
from pipeline.synthesize import SynthesizeConfig, sheet, synthesize
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
from stages.paths import CONTACT_SHEET, manifest_of, stage_dir

OUT = stage_dir("synthesize")


def main() -> None:
    params = load_params()
    config = parse(SynthesizeConfig, section("synthesize", params), "synthesize")
    limit = accounting(params).max_label_skew
    df = read_manifest(manifest_of("landmarks"))
    if not nothing_reached("synthesize", df):
        known_sources("synthesize.sources", config.sources, df, "landmarks")
        known_sources("synthesize.donors", config.donors, df, "landmarks")
    with atomic_dir(OUT) as staging:
        kept, rejected = synthesize(df, config, staging / "faces", OUT / "faces")
        write_tables(staging, kept, rejected)
    write_counts("synthesize", len(df), kept, rejected, max_label_skew=limit)
    save_png(sheet(df, config), CONTACT_SHEET)
    print(f"synthesize: contact sheet of every mask kind and wear in {CONTACT_SHEET}")


if __name__ == "__main__":
    run(main)
