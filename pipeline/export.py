"""Export a trained model for deployment: ONNX, with its preprocessing inside the graph.

The exported graph takes what a deployment has at hand, faces resized to the model's size
as float32 pixel values 0-255 (N, C, H, W), and returns class probabilities: the
normalisation the model was trained with is part of the graph, so no deployment can get it
wrong. The model's ModelMeta (classes, size, colour, normalisation) is stored in the file's
metadata, and the export is checked by running it with onnxruntime against torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.atomic import atomic_path
from pipeline.errors import MasksetError
from pipeline.model_meta import ModelMeta
from pipeline.preprocess import normalise, predict_logits

OPSET = 17


class _Deployable(nn.Module):
    """The model with its normalisation in front and a softmax behind."""

    def __init__(self, model: nn.Module, how: str) -> None:
        super().__init__()
        self.model, self.how = model, how

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(normalise(pixels, self.how)), dim=1)


def export_onnx(model: nn.Module, meta: ModelMeta, path: Path) -> None:
    """Write `path` (atomically); only torch models export (the SVM is a scikit-learn one)."""
    import onnx

    if meta.arch == "svm":
        raise MasksetError("export: the SVM is a scikit-learn model; ONNX export covers the torch models")
    channels = 1 if meta.grayscale else 3
    example = torch.zeros(1, channels, meta.image_size, meta.image_size)
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(
            _Deployable(model.eval(), meta.normalize),
            (example,),
            str(tmp),
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, exact for these models
            input_names=["faces"],
            output_names=["probabilities"],
            dynamic_axes={"faces": {0: "batch"}, "probabilities": {0: "batch"}},
            opset_version=OPSET,
        )
        graph = onnx.load(str(tmp))
        facts = {
            "maskset_meta": meta.to_json(),
            "classes": json.dumps(list(meta.classes)),
            "input": f"float32 pixels 0-255, (N, {channels}, {meta.image_size}, {meta.image_size}), "
            f"{'grey' if meta.grayscale else 'RGB'}, resized bilinear",
        }
        for key, value in facts.items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(tmp))


def onnx_probabilities(path: Path, images: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """Class probabilities from the exported file, run by onnxruntime on the CPU."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = [
        session.run(None, {"faces": images[i : i + batch_size].float().numpy()})[0]
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def compare(model: nn.Module, meta: ModelMeta, path: Path, images: torch.Tensor) -> dict:
    """How the exported file agrees with torch on `images`: the share of faces given the
    same class, and the largest probability difference."""
    torch_probs = torch.softmax(predict_logits(model, images, meta.normalize), dim=1).numpy()
    onnx_probs = onnx_probabilities(path, images)
    same = (torch_probs.argmax(1) == onnx_probs.argmax(1)).mean() if len(images) else 1.0
    return {
        "faces": len(images),
        "same_class": float(same),
        "max_probability_difference": float(np.abs(torch_probs - onnx_probs).max()) if len(images) else 0.0,
    }
