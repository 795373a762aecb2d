"""synthesize: masked copies of selected unmasked faces (see pipeline/synthesize.py)."""

from pathlib import Path

from pipeline.images import save_png
from pipeline.manifest import read_manifest
from pipeline.synthesize import SynthesizeConfig, sheet, synthesize
from stages.common import run, section, to_config, write_stage_outputs

OUT = Path("datasets/synthesize")
SHEET = Path("reports/synthesize/contact_sheet.png")


def main() -> None:
    config = to_config(SynthesizeConfig, section("synthesize"), "synthesize")
    df = read_manifest(Path("datasets/landmarks/manifest.parquet"))
    kept, rejected = synthesize(df, config, OUT / "faces", Path.cwd())
    write_stage_outputs("synthesize", OUT, len(df), kept, rejected)
    save_png(sheet(df, config), SHEET)
    print(f"synthesize: contact sheet of every mask kind and wear in {SHEET}")


if __name__ == "__main__":
    run(main)
