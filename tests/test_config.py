"""Every bad value a user can put in params.yaml is one line naming the key, and exit 2:
run through the real stage scripts (and `maskset`) on a copy of the project's params."""

from __future__ import annotations

import importlib
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Literal

import pytest
import yaml

from pipeline.config import parse, setting
from pipeline.errors import ParamsError
from tests.conftest import ROOT

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def _with(path: str, value: object) -> dict:
    """The project's params with the key at dotted `path` set to `value`."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    *parents, leaf = path.split(".")
    node = params
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return params


# (what is set, the stage command that reads it, text the one line must hold)
CASES = [
    ("train.models.simple_cnn.image_size", 0, ["train", "simple_cnn"], "train.models.simple_cnn.image_size"),
    ("train.models.simple_cnn.image_size", -32, ["train", "simple_cnn"], "must be >= 8"),
    ("train.models.simple_cnn.epochs", 0, ["train", "simple_cnn"], "train.models.simple_cnn.epochs"),
    ("train.models.simple_cnn.batch_size", 0, ["train", "simple_cnn"], "train.models.simple_cnn.batch_size"),
    ("train.models.simple_cnn.lr", -1, ["train", "simple_cnn"], "train.models.simple_cnn.lr"),
    ("train.models.simple_cnn.patience", -1, ["train", "simple_cnn"], "train.models.simple_cnn.patience"),
    ("train.models.simple_cnn", None, ["train", "simple_cnn"], "train.models.simple_cnn"),
    ("train.threads", 0, ["train", "simple_cnn"], "`train.threads` must be >= 1"),
    ("train.models.svm.svm", {"C": []}, ["train", "svm"], "train.models.svm.svm.C"),
    ("train.models.simple_cnn.augment", {"rotaton": 5}, ["train", "simple_cnn"], "rotaton"),
    ("train.models.simple_cnn.optimizer", "adamw", ["train", "simple_cnn"], "'adam', 'sgd'"),
    ("train.models.simple_cnn.arch", "vgg99", ["train", "simple_cnn"], "vgg99"),
    ("evaluate.batch_size", 0, ["evaluate", "simple_cnn"], "evaluate.batch_size"),
    ("audit.bootstrap", 0, ["audit"], "audit.bootstrap"),
    ("filter.aspect_ratio", [0.25], ["filter"], "filter.aspect_ratio"),
    ("filter.aspect_ratio", ["a", "b"], ["filter"], "filter.aspect_ratio[0]"),
    ("filter.aspect_ratio", [4.0, 0.25], ["filter"], "aspect_ratio"),
    ("filter.odd_size", [4.0], ["filter"], "filter.odd_size"),
    ("filter.blur_size", 0, ["filter"], "filter.blur_size"),
    ("filter.checks", ["min_size", "sharpness"], ["filter"], "filter.checks[1]"),
    ("ingest.margin", math.nan, ["ingest"], "ingest.margin` must be a finite number"),
    ("ingest.margin", math.inf, ["ingest"], "ingest.margin` must be a finite number"),
    ("ingest.max_pixels", 0, ["ingest"], "ingest.max_pixels"),
    ("ingest.workers", 0, ["ingest"], "ingest.workers"),
    ("ingest.detector", "mtcnn", ["ingest"], "ingest.detector"),
    ("synthesize.wears", {"correct": math.nan}, ["synthesize"], "synthesize.wears.correct"),
    ("synthesize.wears", {"upside_down": 1.0}, ["synthesize"], "synthesize.wears.upside_down"),
    ("synthesize.min_coverage", 5, ["synthesize"], "synthesize.min_coverage` must be <= 1"),
    ("synthesize.mask_types", [], ["synthesize"], "synthesize.mask_types` must not be empty"),
    ("synthesize.sources", ["nosuch"], ["synthesize"], "synthesize.sources"),
    ("synthesize.donors", ["nosuch"], ["synthesize"], "synthesize.donors[0]"),
    ("synthesize.methods", {"transfer": 1.0}, ["synthesize"], "transfer needs `donors`"),
    ("synthesize.methods", {"paint": 1.0}, ["synthesize"], "synthesize.methods.paint"),
    ("synthesize.workers", 0, ["synthesize"], "synthesize.workers"),
    ("split.ratios", {"train": math.nan, "val": 0.5, "test": 0.5}, ["split"], "split.ratios.train"),
    ("split.ratios", {"train": 0.5, "val": 0.5}, ["split"], "ratios"),
    ("split.holdout", {"sources": "demo"}, ["split"], "split.holdout.sources"),
    ("split.holdout", {"sources": ["nosuch"]}, ["split"], "split.holdout.sources"),
    ("split.balance", "smote", ["split"], "split.balance"),
    ("landmarks.workers", 0, ["landmarks"], "landmarks.workers"),
    ("dedup.verify_ncc", 1.5, ["dedup"], "dedup.verify_ncc"),
    ("sources", "demo", ["ingest"], "`sources`"),
    ("max_label_skew", 2, ["filter"], "`max_label_skew` must be <= 1"),
    ("sources", ["demo", "demo"], ["ingest"], "`sources` lists a value twice"),
    ("sources", ["nosuch"], ["ingest"], "nosuch"),
    ("models", ["nosuch"], ["audit"], "`models[0]`"),
    ("models", ["simple_cnn", "simple_cnn"], ["audit"], "`models` lists a value twice"),
    ("init_from", {"simple_cnn": "svm"}, ["audit"], "'simple_cnn' is in `models` too"),
    ("init_from", {"nosuch": "simple_cnn"}, ["audit"], "`init_from.nosuch`: train.models does not define"),
    ("init_from", {"resnet18": "resnet18"}, ["audit"], "is 'resnet18', which is not another model"),
    ("init_from", ["resnet18"], ["audit"], "`init_from`"),
    ("inspect.port", 0, ["inspect"], "inspect.port"),
]


@pytest.fixture(scope="module")
def built_demo(tmp_path_factory):
    """A copy of the checkout's built outputs (5 MB for the demo), which the stages read
    before they fail; a copy, so that a case that wrongly passed could not overwrite the
    checkout's own. CI builds the demo before the tests."""
    if not (ROOT / "datasets/split/manifest.parquet").exists():
        pytest.skip("the demo is not built here: run `dvc repro` first (CI does)")
    copy = tmp_path_factory.mktemp("built")
    for name in ("datasets", "models", "reports", "dvclive"):
        shutil.copytree(ROOT / name, copy / name, symlinks=True)
    return copy


def _prepare(built, folder, params: object, raw: bytes | None = None) -> None:
    """`folder` holds only a params.yaml and links to the copy of the built data."""
    for name in ("datasets", "models", "reports", "dvclive"):
        if not (folder / name).exists():
            (folder / name).symlink_to(built / name)
    (folder / "params.yaml").write_bytes(raw if raw is not None else yaml.safe_dump(params).encode())


def _in_process(folder, command: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """(exit status, stderr) of a stage's main or `maskset`, run in this process as its
    script runs it (the same guard turns errors into exit codes), without starting Python
    again for each of the cases."""
    from stages.common import guarded

    monkeypatch.chdir(folder)
    capsys.readouterr()
    if command[0] in ("app", "sources", "predict"):
        from stages.cli import main

        status = main(command)
    else:
        module = importlib.import_module(f"stages.{command[0]}")
        monkeypatch.setattr(sys, "argv", [f"stages/{command[0]}.py", *command[1:]])
        status = guarded(module.main)
    return status, capsys.readouterr().err


def _subprocess(folder, command: list[str]) -> tuple[int, str]:
    module = "stages.cli" if command[0] in ("app", "sources", "predict") else f"stages.{command[0]}"
    args = command if module == "stages.cli" else command[1:]
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    return done.returncode, done.stderr


def _one_line_exit_2(status: int, stderr: str, text: str) -> None:
    err = stderr.strip()
    assert status == 2, f"status {status}: {stderr[-2000:]}"
    assert "Traceback" not in stderr and err.startswith("error: ") and "\n" not in err, err
    assert text in err, err


@pytest.mark.parametrize(("key", "value", "command", "text"), CASES, ids=[f"{c[0]}={c[1]!r}" for c in CASES])
def test_a_bad_param_is_one_line_naming_the_key_and_exit_2(
    built_demo, tmp_path, key, value, command, text, monkeypatch, capsys
):
    _prepare(built_demo, tmp_path, _with(key, value))
    _one_line_exit_2(*_in_process(tmp_path, command, monkeypatch, capsys), text)


@pytest.mark.parametrize("case", [0, 13, 20, 31, 38])
def test_the_stage_scripts_themselves_exit_2_with_one_line(built_demo, tmp_path, case):
    key, value, command, text = CASES[case]
    _prepare(built_demo, tmp_path, _with(key, value))
    _one_line_exit_2(*_subprocess(tmp_path, command), text)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"just a string\n", "holds a str"),
        (b"- a\n- list\n", "holds a list"),
        (b"\xff\xfe\x00bad", "cannot read"),
    ],
    ids=["a string", "a list", "not UTF-8"],
)
@pytest.mark.parametrize(
    "command", [["ingest"], ["train", "simple_cnn"], ["sources"], ["app"], ["predict", "x.jpg"]]
)
def test_a_params_file_that_is_not_sections_is_one_line_everywhere(
    built_demo, tmp_path, raw, text, command, monkeypatch, capsys
):
    _prepare(built_demo, tmp_path, None, raw=raw)
    _one_line_exit_2(*_in_process(tmp_path, command, monkeypatch, capsys), text)


def test_evaluate_for_a_model_params_do_not_define_names_it(built_demo, tmp_path, monkeypatch, capsys):
    _prepare(built_demo, tmp_path, PARAMS)
    _one_line_exit_2(*_in_process(tmp_path, ["evaluate", "nosuch"], monkeypatch, capsys), "nosuch")


Choice = Literal["a", "b"]


@dataclass(frozen=True)
class Inner:
    k: int = setting(1, ge=1)


@dataclass(frozen=True)
class Example:
    choice: Choice = "a"
    share: float = setting(0.5, ge=0, le=1)
    pair: tuple[float, float] = setting((1.0, 2.0), gt=0)
    names: tuple[str, ...] = setting((), unique=True)
    weights: dict[Choice, float] = setting({"a": 1.0}, ge=0)
    inner: Inner = Inner()
    maybe: int | None = None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"choice": "c"}, "`x.choice` must be one of 'a', 'b', got 'c'"),
        ({"share": 1.5}, "`x.share` must be <= 1, got 1.5"),
        ({"share": float("nan")}, "`x.share` must be a finite number, got nan"),
        ({"share": True}, "`x.share` must be a number, got True"),
        ({"pair": [1.0]}, "`x.pair` must be a list of 2 (a number, a number), got 1 value(s): [1.0]"),
        ({"pair": [1.0, -1.0]}, "`x.pair[1]` must be > 0, got -1.0"),
        ({"names": ["n", "n"]}, "`x.names` lists a value twice: ['n', 'n']"),
        ({"weights": {"c": 1.0}}, "`x.weights.c` must be one of 'a', 'b', got 'c'"),
        ({"weights": {"a": -1}}, "`x.weights.a` must be >= 0, got -1"),
        ({"inner": {"k": 0}}, "`x.inner.k` must be >= 1, got 0"),
        ({"inner": None}, "`x.inner` must be a mapping, got null"),
        ({"maybe": "3"}, "`x.maybe` must be an integer or null, got '3'"),
        ({"nope": 1}, "`x` has unknown key(s) ['nope']; known:"),
        ("text", "`x` must be a mapping of keys, got 'text'"),
    ],
)
def test_the_parser_names_the_key_and_the_rule(values, message):
    with pytest.raises(ParamsError) as err:
        parse(Example, values, "x")
    assert str(err.value).startswith(message), str(err.value)


def test_the_parser_builds_typed_values():
    got = parse(Example, {"pair": [1, 3], "names": ["p"], "inner": {"k": 2}, "maybe": None}, "x")
    assert got == Example(pair=(1.0, 3.0), names=("p",), inner=Inner(2))
    assert isinstance(got.pair[0], float) and got.weights == {"a": 1.0}
