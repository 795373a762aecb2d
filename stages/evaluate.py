"""evaluate@<model>: predictions for every row, test metrics and curves for `dvc plots`."""

import sys
from pathlib import Path

from pipeline.atomic import atomic_path, write_json
from pipeline.errors import ParamsError
from pipeline.evaluate import evaluate, predictions
from pipeline.manifest import read_manifest
from pipeline.train import load_model
from stages.common import run


def main() -> None:
    if len(sys.argv) != 2:
        raise ParamsError("usage: python -m stages.evaluate <model name>")
    name = sys.argv[1]
    out = Path("reports/evaluate") / name
    model, meta = load_model(Path("models") / name)
    df = read_manifest(Path("datasets/split/manifest.parquet"))
    preds = predictions(model, meta, df)
    metrics, confusion, roc = evaluate(preds, meta["classes"])
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "predictions.parquet") as tmp:
        preds.to_parquet(tmp, index=False)
    with atomic_path(out / "confusion.csv") as tmp:
        confusion.to_csv(tmp, index=False)
    with atomic_path(out / "roc.csv") as tmp:
        roc.to_csv(tmp, index=False)
    write_json(metrics, out / "metrics.json")
    print(
        f"evaluate@{name}: test n={metrics['n']} accuracy={metrics.get('accuracy', float('nan')):.3f} "
        f"f1_macro={metrics.get('f1_macro', float('nan')):.3f}"
    )


if __name__ == "__main__":
    run(main)
