"""train@<model>: fit one model of `train.models` on the split, logging curves with dvclive;
finetune@<model> is the same with `--init-from <model>`: it starts from that model's weights."""

import math
import sys
from dataclasses import dataclass, replace
from typing import Literal

from dvclive import Live
from pipeline.atomic import atomic_dir, write_json
from pipeline.config import parse, setting
from pipeline.errors import MasksetError, ParamsError
from pipeline.families import family_of, load_model, save_model
from pipeline.train import TrainConfig, check_init, classes_of, load_training_rows
from stages.common import run, section
from stages.paths import TENSOR_CACHE, dvclive_dir, manifest_of, model_dir


@dataclass(frozen=True)
class Shared:
    """train.seed, threads, cache, device and loader_workers, which every model of
    train.models uses."""

    seed: int = 0
    threads: int = setting(2, ge=1)
    # where torch models keep the decoded faces: memory-mapped files (RAM flat at any size) or RAM
    cache: Literal["disk", "memory"] = "disk"
    device: str = "auto"  # checked by TrainConfig: auto | cpu | cuda | cuda:N
    loader_workers: int = setting(0, ge=0)  # processes augmenting the next batches (for a GPU)


def main() -> None:
    args = sys.argv[1:]
    if len(args) not in (1, 3) or (len(args) == 3 and args[1] != "--init-from"):
        raise ParamsError(
            "usage: python -m stages.train <model of train.models> [--init-from <trained model>]"
        )
    name, init_name = args[0], (args[2] if len(args) == 3 else None)
    params = section("train")
    models = params.get("models") or {}
    if name not in models:
        raise ParamsError(f"train.models has no {name!r}; it has {sorted(models)}")
    keys = ("seed", "threads", "cache", "device", "loader_workers")
    shared = parse(Shared, {k: params[k] for k in keys if k in params}, "train")
    entry = models[name]
    if not isinstance(entry, dict):
        raise ParamsError(
            f"`train.models.{name}` must be a mapping of keys (arch, epochs, ...), got {entry!r}"
        )
    config = parse(
        TrainConfig,
        entry
        | {
            "seed": shared.seed,
            "threads": shared.threads,
            "device": shared.device,
            "loader_workers": shared.loader_workers,
        },
        f"train.models.{name}",
    )
    family = family_of(config.arch)  # an unknown arch: one line naming the known ones
    df = load_training_rows(manifest_of("split"), config)
    if df.empty:
        raise MasksetError(
            "0 faces reached train: every face was rejected upstream. See reports/<stage>.json "
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

        torch_only: dict = {}
        if family.name == "torch" and shared.cache == "disk":
            torch_only["cache_dir"] = TENSOR_CACHE
        if init_name is not None:
            init, init_meta = load_model(model_dir(init_name))
            if family.name != "torch":
                raise ParamsError(f"init_from.{name}: a {config.arch} cannot start from weights (torch only)")
            check_init(init_meta, config, classes_of(df, config.classes), init_name)
            torch_only["init"] = init
        model, meta = family.train(df, config, log, **torch_only)
        if init_name is not None:
            meta = replace(meta, details=meta.details | {"init_from": init_name})
    # `dvc metrics show` reads this summary: the kept model's epoch, not the last one, and
    # not dvclive's own (the last epoch's values and its step); every epoch is in the curves
    kept = meta.best_epoch
    summary = {"val_f1_macro": history[kept]["val_f1_macro"], "kept_epoch": kept}
    write_json(summary, dvclive_dir(name) / "metrics.json")
    with atomic_dir(model_dir(name)) as staging:
        save_model(model, meta, staging)
    speed = meta.details.get("train_images_per_second")
    speed_text = f", {speed:.0f} images/s" if speed else ""
    print(f"train@{name}: val F1 {meta.best_val_f1_macro:.3f} on {meta.train_rows} train rows{speed_text}")


if __name__ == "__main__":
    run(main)
