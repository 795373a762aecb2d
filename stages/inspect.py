"""inspect: (re)build the persistent FiftyOne dataset; DVC tracks its JSON summary."""

from pathlib import Path

import pandas as pd

from pipeline.atomic import write_json
from pipeline.manifest import read_manifest
from stages.common import load_params, run, section


def main() -> None:
    from pipeline.fiftyone_app import build_dataset  # FiftyOne starts its database on import

    params = load_params()
    config = section("inspect", params)
    df = read_manifest(Path("datasets/split/manifest.parquet"))
    preds = {
        m: pd.read_parquet(Path("reports/evaluate") / m / "predictions.parquet")
        for m in params.get("models", [])
    }
    summary = build_dataset(config["dataset_name"], df, preds, Path.cwd())
    write_json(summary, Path("reports/inspect.json"))
    print(
        f"inspect: FiftyOne dataset {summary['dataset']!r} with {summary['samples']} samples, "
        f"views {sorted(summary['views'])}; open it with `maskset app`"
    )


if __name__ == "__main__":
    run(main)
