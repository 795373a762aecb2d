"""synthesize: masked copies of selected unmasked faces (see pipeline/synthesize.py)."""

from pipeline.atomic import atomic_dir
from pipeline.images import save_png
from pipeline.manifest import read_manifest
from pipeline.synthesize import SynthesizeConfig, sheet, synthesize
from stages.common import nothing_reached, run, section, to_config, write_counts, write_tables
from stages.paths import CONTACT_SHEET, manifest_of, stage_dir

OUT = stage_dir("synthesize")


def main() -> None:
    config = to_config(SynthesizeConfig, section("synthesize"), "synthesize")
    df = read_manifest(manifest_of("landmarks"))
    nothing_reached("synthesize", df)
    with atomic_dir(OUT) as staging:
        kept, rejected = synthesize(df, config, staging / "faces", OUT / "faces")
        write_tables(staging, kept, rejected)
    write_counts("synthesize", len(df), kept, rejected)
    save_png(sheet(df, config), CONTACT_SHEET)
    print(f"synthesize: contact sheet of every mask kind and wear in {CONTACT_SHEET}")


if __name__ == "__main__":
    run(main)
