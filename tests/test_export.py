"""`maskset export`: an ONNX file with the preprocessing inside, which onnxruntime runs to
the same answers as torch, on the real test split of a project."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from pipeline.families import save_model
from pipeline.manifest import write_manifest
from pipeline.preprocess import load_tensor_cache
from pipeline.svm import train_svm
from pipeline.train import SvmOptions, TrainConfig, train
from stages.cli import main


@pytest.fixture
def project(separable, tmp_path, monkeypatch):
    write_manifest(separable, tmp_path / "datasets/split/manifest.parquet")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("arch", "size"), [("lenet5", 32), ("model1", 32), ("mobilenet_v3_small", 64)])
def test_an_exported_model_gives_torchs_answers_in_onnxruntime(project, separable, arch, size, capsys):
    model, meta = train(separable, TrainConfig(arch=arch, image_size=size, epochs=1, batch_size=8), print)
    save_model(model, meta, project / "models" / arch)
    assert main(["export", arch]) == 0
    assert "same class 1.000" in capsys.readouterr().out
    path = project / "exports" / f"{arch}.onnx"
    graph = onnx.load(str(path))
    facts = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(facts["classes"]) == list(meta.classes)
    assert json.loads(facts["maskset_meta"])["image_size"] == size
    # a deployment feeds resized pixels 0-255 and gets probabilities: no normalisation of its own
    test = separable[separable["split"] == "test"]
    pixels = load_tensor_cache(list(test["path"]), size, meta.grayscale).float().numpy()
    probs = ort.InferenceSession(str(path)).run(None, {"faces": pixels})[0]
    assert probs.shape == (len(test), 2) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert not (project / "models" / arch / "model.onnx").exists()  # DVC's models/ is left alone


def test_the_svm_is_refused_in_one_line(project, separable, capsys):
    model, meta = train_svm(
        separable, TrainConfig(arch="svm", image_size=16, svm=SvmOptions(C=(1.0,), pca=5)), print
    )
    save_model(model, meta, project / "models" / "svm")
    assert main(["export", "svm"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: export: the SVM is a scikit-learn model") and "\n" not in err
