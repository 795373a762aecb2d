"""The model registry: the seed studies' classifiers, built by name from params."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pipeline.errors import MasksetError


def _flat_features(features: nn.Module, in_channels: int, image_size: int) -> int:
    with torch.no_grad():
        return int(features(torch.zeros(1, in_channels, image_size, image_size)).numel())


def _with_head(
    features: nn.Module, in_channels: int, image_size: int, num_classes: int, dropout: float
) -> nn.Module:
    """Both seed CNNs end the same way: FC 512 (optionally dropout), FC 256, classifier."""
    n = _flat_features(features, in_channels, image_size)
    head: list[nn.Module] = [nn.Linear(n, 512), nn.ReLU()]
    if dropout:
        head.append(nn.Dropout(dropout))
    head += [nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, num_classes)]
    return nn.Sequential(features, *head)


def simple_cnn(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """The Udacity study's benchmark CNN: four conv + max-pool blocks (32@5x5, 64@3x3,
    128@3x3, 64@3x3), then FC 512 with dropout, FC 256 and the classifier."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 32, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(128, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    return _with_head(features, in_channels, image_size, num_classes, dropout=0.5)


def model1(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """The HPI study's LeNet-style Model1: conv 6@5x5 and 16@5x5, each with batch norm,
    ReLU and max-pool, then FC 512 and FC 256. One logit per class (two for binary), so
    the same loss and metrics serve 2- and 3-class data."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 6, 5),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    return _with_head(features, in_channels, image_size, num_classes, dropout=0.0)


ARCHITECTURES: dict[str, Callable[[int, int, int], nn.Module]] = {
    "simple_cnn": simple_cnn,
    "model1": model1,
}


def build_model(arch: str, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise MasksetError(f"unknown model architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](num_classes, in_channels, image_size)
