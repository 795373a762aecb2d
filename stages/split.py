"""split: train / val / test by group, plus an ImageFolder tree and the leakage report."""

import shutil
from pathlib import Path

from pipeline.atomic import write_json
from pipeline.errors import InvariantError
from pipeline.manifest import read_manifest
from pipeline.split import SplitConfig, link_imagefolder, split
from stages.common import run, section, to_config, write_stage_outputs

OUT = Path("datasets/split")


def main() -> None:
    config = to_config(SplitConfig, section("split"), "split")
    df = read_manifest(Path("datasets/synthesize/manifest.parquet"))
    kept, rejected, report = split(df, config)
    leaks = {k: v for k, v in report["leakage"].items() if v}
    if leaks:
        raise InvariantError(f"split: leakage across splits {leaks}")
    shutil.rmtree(OUT / "imagefolder", ignore_errors=True)
    link_imagefolder(kept, OUT / "imagefolder")
    write_stage_outputs("split", OUT, len(df), kept, rejected)
    write_json(report, Path("reports/split.json"))


if __name__ == "__main__":
    run(main)
