"""evaluate@<model>: predictions for every row, test metrics, curves for `dvc plots`, the
misclassified faces and occlusion heatmaps."""

import sys

import numpy as np

from pipeline.atomic import atomic_dir, atomic_path, write_json
from pipeline.config import parse
from pipeline.errors import ParamsError
from pipeline.evaluate import EvaluateConfig, evaluate, headline, predictions
from pipeline.explain import explain
from pipeline.families import family_of, load_model
from pipeline.images import save_png
from pipeline.manifest import read_manifest
from pipeline.train import resolve_device
from stages.common import run, section
from stages.paths import evaluate_dir, manifest_of, model_dir


def main() -> None:
    if len(sys.argv) != 2:
        raise ParamsError("usage: python -m stages.evaluate <model name>")
    name = sys.argv[1]
    defined = section("train").get("models") or {}
    if name not in defined:
        raise ParamsError(f"evaluate: train.models has no {name!r}; it has {sorted(defined)}")
    config = parse(EvaluateConfig, section("evaluate"), "evaluate")
    out = evaluate_dir(name)
    model, meta = load_model(model_dir(name))
    df = read_manifest(manifest_of("split"))
    # a torch model predicts on train.device (a GPU where there is one); heatmaps on the CPU
    if family_of(meta.arch).name == "torch":
        model.to(resolve_device(str(section("train").get("device", "auto"))))
    preds = predictions(model, meta, df, config.batch_size)
    model.to("cpu")
    metrics, tables = evaluate(preds, list(meta.classes), config)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "predictions.parquet") as tmp:
        preds.to_parquet(tmp, index=False)
    for table_name, table in tables.items():
        with atomic_path(out / f"{table_name}.csv") as tmp:
            table.to_csv(tmp, index=False)
    panels, summary = explain(model, meta, preds, df, config.explain, config.occlusion_patch)
    with atomic_dir(out / "explain") as staging:
        for k, (panel, row) in enumerate(zip(panels, summary, strict=True)):
            file = f"{k:02d}_{'right' if row['correct'] else 'wrong'}_{row['id']}.png"
            save_png(np.asarray(panel), staging / file)
        write_json({"faces": summary}, staging / "summary.json")
    for key, name in (("mask_region_share", "occlusion"), ("gradcam_mask_region_share", "gradcam")):
        shares = [r[key] for r in summary if r["correct"] and r.get(key) is not None]
        metrics[f"{name}_mask_region_share"] = float(np.mean(shares)) if shares else None
    write_json(metrics, out / "report.json")
    write_json(headline(metrics), out / "metrics.json")
    dropped = metrics["left_out"]
    skipped = (
        f" ({dropped['n']} test rows left out, {dropped['reason']}: "
        + ", ".join(f"{k}={v}" for k, v in dropped["by_label"].items())
        + ")"
        if dropped["n"]
        else ""
    )
    print(
        f"evaluate@{name}: test n={metrics['n']}{skipped} "
        f"accuracy={metrics.get('accuracy', float('nan')):.3f} "
        f"f1_macro={metrics.get('f1_macro', float('nan')):.3f}, "
        f"{len(tables['misclassified'])} misclassified, {len(panels)} heatmaps in {out / 'explain'}"
    )


if __name__ == "__main__":
    run(main)
