"""Face embeddings from our own trained model: the layer before its classifier.

FiftyOne's uniqueness and similarity need embeddings; its model zoo would download a network,
so the model this pipeline trained provides them instead: the penultimate activations of a
CNN or backbone, or the PCA projection of the SVM.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pipeline.models import Backbone
from pipeline.svm import SvmModel
from pipeline.train import load_tensor_cache, predict_logits


def _last_layer(model: nn.Module) -> nn.Module:
    if isinstance(model, Backbone):
        return model.head
    if isinstance(model, nn.Sequential):
        return model[-1]
    raise TypeError(f"no classifier layer known for {type(model).__name__}")


def embed(model: nn.Module, meta: dict, paths: list[str], batch_size: int = 128) -> np.ndarray:
    """(N, D) float32 embeddings of the faces at `paths`: what the classifier layer reads."""
    images = load_tensor_cache(paths, meta["image_size"], meta["grayscale"])
    if isinstance(model, SvmModel):
        flat = images.reshape(len(images), -1).float().numpy()
        return model.pipeline[:-1].transform(flat).astype(np.float32)
    captured: list[torch.Tensor] = []
    hook = _last_layer(model).register_forward_hook(
        lambda _m, inputs, _o: captured.append(inputs[0].detach())
    )
    try:
        predict_logits(model, images, meta.get("normalize", "unit"), batch_size)
    finally:
        hook.remove()
    return (
        torch.cat(captured).reshape(len(images), -1).numpy().astype(np.float32)
        if captured
        else np.zeros((0, 0), np.float32)
    )
