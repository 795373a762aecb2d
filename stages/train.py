"""train@<model>: fit one model of `train.models` on the split, logging curves with dvclive."""

import math
import sys

from dvclive import Live
from pipeline.atomic import atomic_dir
from pipeline.errors import MasksetError, ParamsError
from pipeline.families import family_of, save_model
from pipeline.manifest import read_manifest
from pipeline.train import TrainConfig
from stages.common import run, section, to_config
from stages.paths import dvclive_dir, manifest_of, model_dir


def main() -> None:
    if len(sys.argv) != 2:
        raise ParamsError("usage: python -m stages.train <model name from params.yaml train.models>")
    name = sys.argv[1]
    params = section("train")
    models = params.get("models", {})
    if name not in models:
        raise ParamsError(f"train.models has no {name!r}; it has {sorted(models)}")
    values = dict(models[name]) | {
        "seed": params.get("seed", 0),
        "threads": params.get("threads", 2),
    }
    config = to_config(TrainConfig, values, f"train.models.{name}")
    df = read_manifest(manifest_of("split"))
    if df.empty:
        raise MasksetError(
            "0 faces reached train: every face was rejected upstream. See reports/counts/*.json "
            "(`dvc metrics show`) for which stage dropped them and why, fix the source or the "
            "params, and run `dvc repro` again"
        )
    history: list[dict[str, float]] = []
    with Live(dir=str(dvclive_dir(name)), dvcyaml=None, save_dvc_exp=False) as live:

        def log(metrics: dict[str, float]) -> None:
            history.append(metrics)
            for key, value in metrics.items():
                if math.isfinite(value):  # no val faces: no val loss, and no NaN in the JSON
                    live.log_metric(key, value)
            live.next_step()

        model, meta = family_of(config.arch).train(df, config, log)
        # `dvc metrics show` reads this summary: the kept model's epoch, not the last one
        kept = meta.best_epoch
        live.summary = {k: v for k, v in history[kept].items() if math.isfinite(v)} | {
            "kept_epoch": kept,
            "epochs_run": len(history),
        }
    with atomic_dir(model_dir(name)) as staging:
        save_model(model, meta, staging)
    speed = meta.details.get("train_images_per_second")
    speed_text = f", {speed:.0f} images/s" if speed else ""
    print(f"train@{name}: val F1 {meta.best_val_f1_macro:.3f} on {meta.train_rows} train rows{speed_text}")


if __name__ == "__main__":
    run(main)
