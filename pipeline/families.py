"""Model families and the one place a trained model is saved and loaded.

A family says how its models are trained, written, read back and asked for embeddings:
torch models (the small CNNs and torchvision backbones, pipeline/models.py) and scikit-learn
pipelines (the SVM, pipeline/svm.py). Everything else (train and evaluate stages, the App,
`maskset predict`) goes through `family_of`, `save_model` and `load_model`, so adding a
family touches this registry only. A models/ folder is something people pass around, so
loading checks every file and names what is wrong instead of failing inside torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.atomic import atomic_path
from pipeline.errors import MasksetError, ModelFileError
from pipeline.model_meta import ModelMeta
from pipeline.models import ARCHITECTURES, TORCHVISION, Backbone, build_model
from pipeline.preprocess import predict_logits
from pipeline.svm import SvmModel, load_svm, save_svm, train_svm
from pipeline.train import train

Log = Callable[[dict[str, float]], None]


@dataclass(frozen=True)
class Family:
    name: str
    archs: frozenset[str]
    weights_file: str  # beside meta.json in the model's folder
    # (faces, config, log[, init]): init, a trained model to start from, torch only
    train: Callable[..., tuple[nn.Module, ModelMeta]]
    save: Callable[[nn.Module, Path], None]
    load: Callable[[ModelMeta, Path], nn.Module]
    embed: Callable[[nn.Module, torch.Tensor, ModelMeta, int], np.ndarray]


def _retrain(directory: Path) -> str:
    return f"Retrain it: dvc repro train@{directory.name}"


def _save_torch(model: nn.Module, directory: Path) -> None:
    """A plain state_dict: loadable with weights_only=True, so loading never unpickles.
    Saved through a file object: given a path, torch names the archive's folder after the
    (random) temporary file, and the same weights would be new bytes, a new model to DVC."""
    with atomic_path(directory / "model.pt") as tmp, tmp.open("wb") as out:
        torch.save(model.state_dict(), out)


def _load_torch(meta: ModelMeta, directory: Path) -> nn.Module:
    try:
        model = build_model(meta.arch, len(meta.classes), meta.in_channels, meta.image_size)
    except (RuntimeError, MasksetError) as exc:  # e.g. an image_size the arch cannot take
        raise ModelFileError(
            f"{directory / 'meta.json'}: its {meta.arch} cannot be built at image_size "
            f"{meta.image_size} ({str(exc).splitlines()[0]}). {_retrain(directory)}"
        ) from None
    # the state_dict holds every weight, pretrained ones included: no download to load a model
    path = directory / "model.pt"
    try:
        state = torch.load(path, weights_only=True)
    except OSError as exc:
        raise ModelFileError(f"{path} cannot be read ({exc}). {_retrain(directory)}") from None
    except Exception as exc:  # weights_only refusals, truncated zips, not a torch file at all
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(
            f"{path} is not a plain state_dict and was not loaded (torch refused it: {first}). "
            f"{_retrain(directory)}"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(
            f"{path} holds a {type(state).__name__}, not a state_dict of tensors. {_retrain(directory)}"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelFileError(
            f"{path} does not fit meta.json's {meta.arch} with {len(meta.classes)} classes and "
            f"{meta.in_channels} channel(s) ({first}): the two files come from different models. "
            f"{_retrain(directory)}"
        ) from None
    return model.eval()


def _classifier_layer(model: nn.Module) -> nn.Module:
    if isinstance(model, Backbone):
        return model.head
    if isinstance(model, nn.Sequential):
        return model[-1]
    raise TypeError(f"no classifier layer known for {type(model).__name__}")


def _embed_torch(model: nn.Module, images: torch.Tensor, meta: ModelMeta, batch_size: int) -> np.ndarray:
    """What the classifier layer reads: the penultimate activations."""
    captured: list[torch.Tensor] = []
    hook = _classifier_layer(model).register_forward_hook(
        lambda _m, inputs, _o: captured.append(inputs[0].detach())
    )
    try:
        predict_logits(model, images, meta.normalize, batch_size)
    finally:
        hook.remove()
    if not captured:
        return np.zeros((0, 0), np.float32)
    return torch.cat(captured).reshape(len(images), -1).numpy().astype(np.float32)


def _embed_svm(model: nn.Module, images: torch.Tensor, meta: ModelMeta, batch_size: int) -> np.ndarray:
    """The PCA projection the SVM classifies."""
    assert isinstance(model, SvmModel)
    flat = images.reshape(len(images), -1).float().numpy()
    return model.pipeline[:-1].transform(flat).astype(np.float32)


FAMILIES: dict[str, Family] = {
    "torch": Family(
        "torch",
        frozenset(ARCHITECTURES) | frozenset(TORCHVISION),
        "model.pt",
        train,
        _save_torch,
        _load_torch,
        _embed_torch,
    ),
    "sklearn": Family(
        "sklearn",
        frozenset({"svm"}),
        "model.skops",
        train_svm,
        lambda model, directory: save_svm(model, directory),  # type: ignore[arg-type]
        lambda meta, directory: load_svm(directory),
        _embed_svm,
    ),
}
ARCHS = frozenset().union(*(f.archs for f in FAMILIES.values()))


def family_of(arch: str) -> Family:
    for family in FAMILIES.values():
        if arch in family.archs:
            return family
    raise MasksetError(f"unknown model architecture {arch!r}; known: {sorted(ARCHS)}")


# what a run measured of itself, not of the model: kept in memory and printed, never saved,
# so that the same training writes the same bytes and DVC sees the same model
RUN_MEASUREMENTS = ("train_images_per_second",)


def save_model(model: nn.Module, meta: ModelMeta, directory: Path) -> None:
    """The family's weights file plus meta.json, each written atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    family_of(meta.arch).save(model, directory)
    details = {k: v for k, v in meta.details.items() if k not in RUN_MEASUREMENTS}
    with atomic_path(directory / "meta.json") as tmp:
        tmp.write_text(replace(meta, details=details).to_json())


def load_model(directory: Path) -> tuple[nn.Module, ModelMeta]:
    """(model in eval mode, its meta), or a ModelFileError naming the file and what to do."""
    path = directory / "meta.json"
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} cannot be read ({exc}). {_retrain(directory)}") from None
    meta = ModelMeta.from_json(text, path)
    if meta.arch not in ARCHS:
        raise ModelFileError(
            f"{path} names architecture {meta.arch!r}, which this pipeline does not know "
            f"(known: {sorted(ARCHS)}). {_retrain(directory)}"
        )
    return family_of(meta.arch).load(meta, directory), meta
