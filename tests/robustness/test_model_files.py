"""Model files never run code when loaded: torch weights go through weights_only=True,
the SVM through skops with a fixed list of trusted types, and nothing in the pipeline
unpickles anything else."""

from __future__ import annotations

import ast
import json
import os
import pathlib
import subprocess
import sys
from pathlib import Path

import pytest
import skops.io
import torch
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from pipeline.errors import ModelFileError
from pipeline.families import load_model, save_model
from pipeline.svm import train_svm
from pipeline.train import SvmOptions, TrainConfig, train
from tests.conftest import ROOT


class Payload:
    """What a hostile pickle does on load: call something of its choosing (here, create
    a file, so the test can see whether it ran)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.fixture
def trained(separable, tmp_path):
    config = TrainConfig(arch="lenet5", image_size=32, epochs=1, batch_size=16)
    model, meta = train(separable, config, lambda _: None)
    save_model(model, meta, tmp_path / "models" / "lenet5")
    return tmp_path / "models" / "lenet5"


def test_a_torch_file_carrying_a_pickle_payload_is_refused_unrun(trained, tmp_path):
    marker = tmp_path / "payload_ran"
    torch.save({"conv.weight": Payload(marker)}, trained / "model.pt")
    with pytest.raises(ModelFileError, match=r"not a plain state_dict.*dvc repro train@lenet5"):
        load_model(trained)
    assert not marker.exists()


def test_an_svm_file_naming_an_untrusted_callable_is_refused_unbuilt(separable, tmp_path):
    config = TrainConfig(arch="svm", image_size=32, epochs=1, svm=SvmOptions(C=(1.0,), pca=10))
    model, meta = train_svm(separable, config, lambda _: None)
    directory = tmp_path / "models" / "svm"
    save_model(model, meta, directory)
    assert load_model(directory)[1].arch == "svm"  # what we write loads
    hostile = Pipeline([("run", FunctionTransformer(func=os.system, kw_args={"command": "true"}))])
    skops.io.dump(hostile, directory / "model.skops")
    with pytest.raises(ModelFileError, match=r"holds types this pipeline never writes.*system"):
        load_model(directory)
    assert json.loads((directory / "meta.json").read_text())["arch"] == "svm"


UNSAFE = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("joblib", "load"),
    ("pd", "read_pickle"),
    ("dill", "load"),
    ("cloudpickle", "load"),
}


def unsafe_loads(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
        name = node.func.attr
        keywords = {k.arg: k.value for k in node.keywords}
        if (owner, name) in UNSAFE:
            found.append(f"{owner}.{name}")
        elif (owner, name) == ("torch", "load"):
            flag = keywords.get("weights_only")
            if not (isinstance(flag, ast.Constant) and flag.value is True):
                found.append("torch.load without weights_only=True")
        elif name == "load" and owner in ("np", "numpy"):
            flag = keywords.get("allow_pickle")
            if isinstance(flag, ast.Constant) and flag.value:
                found.append("np.load(allow_pickle=True)")
    return found


def test_no_code_path_unpickles_anything():
    hits = {
        str(path.relative_to(ROOT)): unsafe_loads(ast.parse(path.read_text()))
        for folder in ("pipeline", "stages")
        for path in (ROOT / folder).rglob("*.py")
    }
    assert {k: v for k, v in hits.items() if v} == {}
    # and the check itself sees what it looks for
    sample = "import torch, pickle\ntorch.load(p)\npickle.loads(b)\ntorch.load(p, weights_only=True)\n"
    assert unsafe_loads(ast.parse(sample)) == ["torch.load without weights_only=True", "pickle.loads"]


def test_maskset_predict_refuses_a_tampered_model_without_a_traceback(trained, tmp_path, monkeypatch, capsys):
    from stages.cli import main

    marker = tmp_path / "payload_ran"
    torch.save({"conv.weight": Payload(marker)}, trained / "model.pt")
    monkeypatch.chdir(tmp_path)
    assert main(["predict", str(tmp_path / "any.jpg"), "--model", "lenet5"]) == 2
    assert "not a plain state_dict" in capsys.readouterr().err and not marker.exists()


def _truncate(directory: Path) -> None:
    data = (directory / "model.pt").read_bytes()
    (directory / "model.pt").write_bytes(data[: len(data) // 2])


def _edit_meta(directory: Path, **changes) -> None:
    meta = json.loads((directory / "meta.json").read_text())
    (directory / "meta.json").write_text(json.dumps(meta | changes))


TAMPERED = {
    "truncated model.pt": (_truncate, r"not a plain state_dict.*torch refused it"),
    "model.pt holding a list": (
        lambda d: torch.save([torch.zeros(2)], d / "model.pt"),
        r"holds a list, not a state_dict",
    ),
    "meta.json naming another arch": (
        lambda d: _edit_meta(d, arch="model1"),
        r"does not fit meta.json's model1 with 2 classes",
    ),
    "meta.json naming an arch its size cannot build": (
        lambda d: _edit_meta(d, arch="simple_cnn"),
        r"its simple_cnn cannot be built at image_size 32",
    ),
    "meta.json not JSON": (lambda d: (d / "meta.json").write_text("{arch: lenet5"), r"meta.json is not JSON"),
    "meta.json a list": (lambda d: (d / "meta.json").write_text("[1, 2]"), r"holds a list, not a record"),
    "meta.json with an unknown arch": (
        lambda d: _edit_meta(d, arch="vgg99"),
        r"names architecture 'vgg99'",
    ),
    "meta.json with a string image_size": (
        lambda d: _edit_meta(d, image_size="32"),
        r"`image_size` is '32'",
    ),
    "meta.json missing": (lambda d: (d / "meta.json").unlink(), r"meta.json cannot be read"),
    "model.pt missing": (lambda d: (d / "model.pt").unlink(), r"model.pt cannot be read"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_model_folder_is_one_model_file_error_naming_the_file(trained, case):
    tamper, message = TAMPERED[case]
    tamper(trained)
    with pytest.raises(ModelFileError, match=message) as err:
        load_model(trained)
    assert "dvc repro train@lenet5" in str(err.value)


def test_a_damaged_svm_file_is_a_model_file_error(separable, tmp_path):
    model, meta = train_svm(
        separable, TrainConfig(arch="svm", image_size=16, svm=SvmOptions(C=(1.0,), pca=5)), print
    )
    save_model(model, meta, tmp_path / "svm")
    data = (tmp_path / "svm/model.skops").read_bytes()
    (tmp_path / "svm/model.skops").write_bytes(data[:100])
    with pytest.raises(ModelFileError, match=r"model.skops is missing or damaged"):
        load_model(tmp_path / "svm")


@pytest.mark.parametrize(
    "case", ["truncated model.pt", "meta.json naming another arch", "meta.json not JSON"]
)
def test_evaluate_and_predict_refuse_a_tampered_model_in_one_line(
    trained, tmp_path, case, capsys, monkeypatch
):
    from stages.cli import main

    TAMPERED[case][0](trained)
    (tmp_path / "params.yaml").write_text(
        "evaluate: {batch_size: 8}\ntrain: {models: {lenet5: {arch: lenet5}}}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["predict", str(tmp_path / "any.jpg"), "--model", "lenet5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    done = subprocess.run(
        [sys.executable, "-m", "stages.evaluate", "lenet5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and "lenet5" in done.stderr
