"""Model files never run code when loaded: torch weights go through weights_only=True,
the SVM through skops with a fixed list of trusted types, and nothing in the pipeline
unpickles anything else."""

from __future__ import annotations

import ast
import json
import os
import pathlib
from pathlib import Path

import pytest
import skops.io
import torch
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from pipeline.errors import ModelFileError
from pipeline.svm import train_svm
from pipeline.train import TrainConfig, load_model, save_model, train
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
    config = TrainConfig(arch="svm", image_size=32, epochs=1, svm={"C": [1.0], "pca": 10})
    model, meta = train_svm(separable, config, lambda _: None)
    directory = tmp_path / "models" / "svm"
    save_model(model, meta, directory)
    assert load_model(directory)[1]["arch"] == "svm"  # what we write loads
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
    from pipeline.cli import main

    marker = tmp_path / "payload_ran"
    torch.save({"conv.weight": Payload(marker)}, trained / "model.pt")
    monkeypatch.chdir(tmp_path)
    assert main(["predict", str(tmp_path / "any.jpg"), "--model", "lenet5"]) == 2
    assert "not a plain state_dict" in capsys.readouterr().err and not marker.exists()
