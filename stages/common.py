"""What every stage script shares: params parsing, error reporting, the summary line."""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import yaml

from pipeline.atomic import atomic_dir, write_json
from pipeline.config import parse, setting
from pipeline.errors import MasksetError, ParamsError
from pipeline.fiftyone_db import InspectConfig, use_database
from pipeline.manifest import (
    MAX_LABEL_SKEW,
    label_skew_warning,
    label_survival,
    read_manifest,
    reason_counts,
    rejection_report,
    write_manifest,
    write_rejected,
)
from pipeline.parallel import ParallelConfig, parallel_backend
from stages.paths import (
    PARAMS_FILE,
    counts_of,
    fiftyone_database,
    fiftyone_dataset,
    manifest_of,
    previous_stage,
    report_of,
    stage_dir,
)

C = TypeVar("C")
OUT_OF_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def load_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ParamsError(f"cannot read {path}: {exc}") from None
    if not isinstance(params, dict):
        raise ParamsError(
            f"{path} holds a {type(params).__name__}, not sections of `key: value` (see the README)"
        )
    return params


def section(name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    params = load_params() if params is None else params
    value = params.get(name)
    if not isinstance(value, dict):
        raise ParamsError(f"params.yaml has no `{name}:` section (see the README's stage table)")
    return value


@dataclass(frozen=True)
class Project:
    """The top-level keys: which catalog sources to build from, which models to train from
    scratch (`models`), and which to fine-tune from another's weights (`init_from`)."""

    sources: tuple[str, ...] = setting((), nonempty=True, unique=True)
    models: tuple[str, ...] = setting((), unique=True)
    init_from: dict[str, str] = field(default_factory=dict)  # model -> the model it starts from

    @property
    def evaluated(self) -> tuple[str, ...]:
        """Every model the pipeline trains, in params order: evaluate, audit and inspect's."""
        return self.models + tuple(self.init_from)


def project(params: dict[str, Any] | None = None) -> Project:
    """`sources`, `models` and `init_from` checked: each model a key of train.models, each
    fine-tuned one trained by no other stage, starting from a model the pipeline trains."""
    params = load_params() if params is None else params
    keys = ("sources", "models", "init_from")
    top = parse(Project, {k: params[k] for k in keys if k in params and params[k] is not None}, "")
    defined = (params.get("train") or {}).get("models") or {}
    for i, name in enumerate(top.models):
        if name not in defined:
            raise ParamsError(
                f"`models[{i}]` is {name!r}, which train.models does not define: {sorted(defined)}"
            )
    for name, start in top.init_from.items():
        if name not in defined:
            raise ParamsError(f"`init_from.{name}`: train.models does not define {name!r}: {sorted(defined)}")
        if name in top.models:
            raise ParamsError(f"`init_from.{name}`: {name!r} is in `models` too; a model is trained once")
        if start not in top.evaluated or start == name:
            raise ParamsError(
                f"`init_from.{name}` is {start!r}, which is not another model the pipeline trains "
                f"(`models` or `init_from`): {list(top.evaluated)}"
            )
    return top


@dataclass(frozen=True)
class Accounting:
    """The top-level `max_label_skew`: a data stage whose rejected share differs between two
    labels by more than this warns (pipeline/manifest.py's label_skew_warning)."""

    max_label_skew: float = setting(MAX_LABEL_SKEW, gt=0, le=1)


def accounting(params: dict[str, Any] | None = None) -> Accounting:
    params = load_params() if params is None else params
    return parse(Accounting, {k: params[k] for k in ("max_label_skew",) if k in params}, "")


def summary(stage: str, n_in: int, kept: pd.DataFrame, rejected: pd.DataFrame) -> None:
    """The stage's one line; when nothing came out, why, with the first example, since every
    later stage will have nothing to work on."""
    reasons = reason_counts(rejected)
    listed = ", ".join(f"{k}={v}" for k, v in reasons.items()) or "none"
    print(f"{stage}: {n_in} in, {len(kept)} out, {len(rejected)} rejected ({listed})")
    if kept.empty and len(rejected):
        top = sorted(reasons, key=lambda r: -reasons[r])[:3]
        examples = [rejected[rejected["reason"] == r].iloc[0] for r in top]
        why = "; ".join(
            f"{reasons[r]} {r} (e.g. {row['origin'] or row['id']}: {row['detail']})"
            for r, row in zip(top, examples, strict=True)
        )
        print(f"{stage}: no face came out of {len(rejected)} rejected: {why}", file=sys.stderr)


def known_sources(key: str, named: tuple[str, ...], df: pd.DataFrame, stage: str) -> None:
    """Sources a param names must have faces in the manifest the stage reads: a typo would
    otherwise mask nothing or hold nothing out, silently."""
    present = set(df["source"].dropna())
    for i, name in enumerate(named):
        if name not in present:
            raise ParamsError(
                f"`{key}[{i}]` is {name!r}, but no face in the {stage} manifest comes from it "
                f"(its sources: {sorted(present)})"
            )


def nothing_reached(stage: str, df: pd.DataFrame) -> bool:
    """Whether the stage's input is empty, saying so and where to look: it still writes its
    outputs (empty, with the schema), so the pipeline's records stay complete."""
    if len(df):
        return False
    print(
        f"{stage}: 0 faces reached {stage}: see {report_of(previous_stage(stage))} for why", file=sys.stderr
    )
    return True


def out_of_space(exc: OSError) -> bool:
    """pyarrow reports a full disk as a bare OSError without an errno, hence the message test."""
    return exc.errno in OUT_OF_SPACE or "No space left on device" in str(exc)


def guarded(main: Callable[[], int | None]) -> int:
    """`main`'s exit status; a user-fixable error prints its message as one line and gives 2,
    with no traceback. A full disk is one: outputs are swapped in only when complete, so the
    previous good output is still there and a rerun after freeing space finishes the job.
    Ctrl-C is a normal way to stop a long command: 130, as shells report it."""
    try:
        return main() or 0
    except MasksetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if not out_of_space(exc):
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        print(
            f"error: out of disk space{where} ({exc.strerror or exc}); the previous outputs are "
            "unchanged: free some space (`df -h .`) and run again",
            file=sys.stderr,
        )
        return 2


def run(main: Callable[[], None]) -> None:
    """Run a stage script: stages and `maskset` turn errors into exit codes alike. Its
    per-image work runs on params.yaml's `parallel` backend (a process pool by default)."""

    def on_backend() -> None:
        params = load_params()
        config = parse(ParallelConfig, params.get("parallel") or {}, "parallel")
        with parallel_backend(config):
            main()

    status = guarded(on_backend)
    if status:
        sys.exit(status)


def fiftyone_setup(params: dict[str, Any] | None = None) -> tuple[InspectConfig, str]:
    """The inspect section and this project's dataset name, with FiftyOne pointed at this
    project's database (call before anything imports fiftyone)."""
    config = parse(InspectConfig, section("inspect", params), "inspect")
    use_database(fiftyone_database(config.database_dir))
    return config, fiftyone_dataset(config.dataset_name)


def write_tables(directory: Path, kept: pd.DataFrame, rejected: pd.DataFrame) -> None:
    write_manifest(kept, directory / "manifest.parquet")
    write_rejected(rejected, directory / "rejected.parquet")


def write_counts(
    stage: str,
    n_in: int,
    kept: pd.DataFrame,
    rejected: pd.DataFrame,
    report: dict | None = None,
    max_label_skew: float = MAX_LABEL_SKEW,
) -> None:
    """Two files a stage: reports/counts/<stage>.json, the three numbers `dvc metrics show`
    and `dvc exp show` list (rows in, out, rejected), so those views fit a terminal; and
    reports/<stage>.json, everything: rejections by reason and by source, example ids, and
    the stage's own `report` (split's leakage, dedup's clusters, ...)."""
    counts = {"rows_in": n_in, "rows_out": len(kept), "rejected": len(rejected)}
    write_json(counts, counts_of(stage))
    survival = label_survival(kept, rejected)
    warning = label_skew_warning(stage, survival, max_label_skew)
    detail = {
        **counts,
        "rejected_by_reason": reason_counts(rejected),
        **survival,
        "label_skew_warning": warning,
        **rejection_report(kept, rejected),
    }
    write_json({**detail, **(report or {})}, report_of(stage))
    summary(stage, n_in, kept, rejected)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


def write_stage_outputs(
    stage: str,
    out_dir: Path,
    n_in: int,
    kept: pd.DataFrame,
    rejected: pd.DataFrame,
    report: dict | None = None,
    max_label_skew: float = MAX_LABEL_SKEW,
) -> None:
    """The manifest and the rejections replace `out_dir` as a whole, then the counts."""
    with atomic_dir(out_dir) as staging:
        write_tables(staging, kept, rejected)
    write_counts(stage, n_in, kept, rejected, report, max_label_skew)


def transform(
    stage: str,
    config_cls: Callable[..., C],
    step: Callable[[pd.DataFrame, C], tuple[pd.DataFrame, pd.DataFrame]],
    report: Callable[[pd.DataFrame, pd.DataFrame, C], dict] | None = None,
) -> None:
    """The whole of a manifest-in, manifest-out stage: params -> step -> outputs, reading the
    previous data stage's manifest and writing datasets/<stage>/."""
    params = load_params()
    config, limit = parse(config_cls, section(stage, params), stage), accounting(params).max_label_skew
    df = read_manifest(manifest_of(previous_stage(stage)))
    nothing_reached(stage, df)
    kept, rejected = step(df, config)
    extra = None if report is None else report(kept, rejected, config)
    write_stage_outputs(stage, stage_dir(stage), len(df), kept, rejected, extra, limit)
