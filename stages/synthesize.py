"""synthesize: masked copies of selected unmasked faces (see pipeline/synthesize.py)."""

from pathlib import Path

from pipeline.atomic import atomic_dir
from pipeline.images import save_png
from pipeline.manifest import read_manifest
from pipeline.synthesize import SynthesizeConfig, sheet, synthesize
from stages.common import nothing_reached, run, section, to_config, write_counts, write_tables

OUT = Path("datasets/synthesize")
SHEET = Path("reports/synthesize/contact_sheet.png")


def main() -> None:
    config = to_config(SynthesizeConfig, section("synthesize"), "synthesize")
    df = read_manifest(Path("datasets/landmarks/manifest.parquet"))
    nothing_reached("synthesize", df)
    with atomic_dir(OUT) as staging:
        kept, rejected = synthesize(df, config, staging / "faces", OUT / "faces")
        write_tables(staging, kept, rejected)
    write_counts("synthesize", len(df), kept, rejected)
    save_png(sheet(df, config), SHEET)
    print(f"synthesize: contact sheet of every mask kind and wear in {SHEET}")


if __name__ == "__main__":
    run(main)
