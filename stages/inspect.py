"""inspect: (re)build the persistent FiftyOne dataset; DVC tracks its JSON summary."""

from pathlib import Path

import pandas as pd

from pipeline.atomic import write_json
from pipeline.families import load_model
from pipeline.manifest import read_manifest, read_rejected
from pipeline.sources import data_root
from stages.common import fiftyone_setup, load_params, project, run
from stages.paths import (
    DATA_STAGES,
    INSPECT_SUMMARY,
    evaluate_dir,
    manifest_of,
    model_dir,
    raw_dir,
    rejected_of,
)


def main() -> None:
    params = load_params()
    _, name = fiftyone_setup(params)  # this project's own database and dataset name
    from pipeline.embeddings import embed  # torch first: FiftyOne starts its database on import
    from pipeline.fiftyone_app import build_dataset

    df = read_manifest(manifest_of("split"))
    models = project(params).evaluated
    preds = {m: pd.read_parquet(evaluate_dir(m) / "predictions.parquet") for m in models}
    rejected = pd.concat([read_rejected(rejected_of(s)) for s in DATA_STAGES])
    embeddings = None
    if models:  # uniqueness from the first model's own features: nothing downloaded
        model, meta = load_model(model_dir(models[0]))
        embeddings = embed(model, meta, list(df["path"]))
    originals = {s: data_root(raw_dir(s)) for s in df["source"].dropna().unique()}
    summary = build_dataset(name, df, preds, Path.cwd(), rejected, embeddings, originals)
    write_json(summary, INSPECT_SUMMARY)
    print(
        f"inspect: FiftyOne dataset {summary['dataset']!r} with {summary['samples']} faces and "
        f"{summary['rejected_samples']} rejections, views {sorted(summary['views'])}; "
        "open it with `maskset app`"
    )


if __name__ == "__main__":
    run(main)
