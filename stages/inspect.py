"""inspect: (re)build the persistent FiftyOne dataset; DVC tracks its JSON summary."""

from pathlib import Path

import pandas as pd

from pipeline.atomic import write_json
from pipeline.families import load_model
from pipeline.manifest import read_manifest, read_rejected
from pipeline.sources import data_root
from stages.common import load_params, run, section

STAGES = ("ingest", "dedup", "filter", "landmarks", "synthesize", "split")


def main() -> None:
    from pipeline.embeddings import embed  # torch first: FiftyOne starts its database on import
    from pipeline.fiftyone_app import build_dataset

    params = load_params()
    config = section("inspect", params)
    df = read_manifest(Path("datasets/split/manifest.parquet"))
    models = params.get("models", [])
    preds = {m: pd.read_parquet(Path("reports/evaluate") / m / "predictions.parquet") for m in models}
    rejected = pd.concat([read_rejected(Path("datasets") / s / "rejected.parquet") for s in STAGES])
    embeddings = None
    if models:  # uniqueness from the first model's own features: nothing downloaded
        model, meta = load_model(Path("models") / models[0])
        embeddings = embed(model, meta, list(df["path"]))
    originals = {s: data_root(Path("datasets/raw") / s) for s in df["source"].dropna().unique()}
    summary = build_dataset(config["dataset_name"], df, preds, Path.cwd(), rejected, embeddings, originals)
    write_json(summary, Path("reports/inspect.json"))
    print(
        f"inspect: FiftyOne dataset {summary['dataset']!r} with {summary['samples']} faces and "
        f"{summary['rejected_samples']} rejections, views {sorted(summary['views'])}; "
        "open it with `maskset app`"
    )


if __name__ == "__main__":
    run(main)
