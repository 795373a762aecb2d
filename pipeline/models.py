"""The model registry: the seed studies' classifiers, built by name from params.

Small CNNs are defined here; torchvision backbones get their classifier replaced by one
with a logit per class. `weights=None` by default; `pretrained` asks torchvision for its
ImageNet weights, which come from the torch hub cache or a download, and fail with a
message saying how to get them when neither works (this machine has no route to them).
The SVM baseline lives in pipeline/svm.py; pipeline/families.py registers both kinds.
"""

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


def lenet5(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """LeNet-5 as LeCun et al. described it: conv 6@5x5, average pool, conv 16@5x5, average
    pool, FC 120, FC 84, with tanh; the input resized to image_size (32 is the original)."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 6, 5),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Flatten(),
    )
    n = _flat_features(features, in_channels, image_size)
    return nn.Sequential(
        features, nn.Linear(n, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes)
    )


class Backbone(nn.Module):
    """A torchvision model whose last layer (`head`) was replaced. ImageNet backbones take
    three channels, so a grey face is repeated into all three."""

    def __init__(self, model: nn.Module, head: str) -> None:
        super().__init__()
        self.model = model
        self.head_name = head

    @property
    def head(self) -> nn.Module:
        return self.model.get_submodule(self.head_name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)


# name -> (torchvision builder, weights enum name, attribute path of the final layer)
TORCHVISION = {
    "resnet18": ("resnet18", "ResNet18_Weights", "fc"),
    "resnet50": ("resnet50", "ResNet50_Weights", "fc"),
    "mobilenet_v2": ("mobilenet_v2", "MobileNet_V2_Weights", "classifier.1"),
    "mobilenet_v3_small": ("mobilenet_v3_small", "MobileNet_V3_Small_Weights", "classifier.3"),
    "inception_v3": ("inception_v3", "Inception_V3_Weights", "fc"),
}
MIN_SIZE = {"inception_v3": 75}  # its stem needs at least this many pixels a side


def torchvision_model(arch: str, num_classes: int, pretrained: bool = False) -> nn.Module:
    """A torchvision backbone with its last layer replaced by one logit per class; the
    replaced layer is the model's `head` (two-phase fine-tuning trains it alone first)."""
    import torchvision

    builder, weights_name, head_path = TORCHVISION[arch]
    kwargs = {"aux_logits": False, "init_weights": True} if arch == "inception_v3" else {}
    weights = getattr(torchvision.models, weights_name).DEFAULT if pretrained else None
    try:
        model = getattr(torchvision.models, builder)(weights=weights, **kwargs)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        cache = torch.hub.get_dir()
        raise MasksetError(
            f"{arch}: pretrained ImageNet weights are neither in the torch hub cache ({cache}/checkpoints) "
            f"nor downloadable ({exc}). Copy the file {weights.url.rsplit('/', 1)[-1]} there from a "  # type: ignore[union-attr]
            "machine with internet, or set `pretrained: false`."
        ) from exc
    parent_path, _, leaf = head_path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    old = getattr(parent, leaf)
    setattr(parent, leaf, nn.Linear(old.in_features, num_classes))
    return Backbone(model, head_path)


ARCHITECTURES: dict[str, Callable[[int, int, int], nn.Module]] = {
    "simple_cnn": simple_cnn,
    "model1": model1,
    "lenet5": lenet5,
}


def build_model(
    arch: str, num_classes: int, in_channels: int, image_size: int, pretrained: bool = False
) -> nn.Module:
    if arch in TORCHVISION:
        if image_size < MIN_SIZE.get(arch, 32):
            raise MasksetError(f"{arch} needs image_size >= {MIN_SIZE.get(arch, 32)}, got {image_size}")
        return torchvision_model(arch, num_classes, pretrained)
    if pretrained:
        raise MasksetError(f"{arch} has no pretrained weights; only {sorted(TORCHVISION)} do")
    if arch not in ARCHITECTURES:
        known = sorted([*ARCHITECTURES, *TORCHVISION])
        raise MasksetError(f"unknown model architecture {arch!r}; known: {known}")
    return ARCHITECTURES[arch](num_classes, in_channels, image_size)
