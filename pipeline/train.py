"""Training on the split manifest, on CPU, with per-epoch curves for `dvc plots`.

Images are decoded and resized once into a uint8 tensor cache, so the epochs spend their
time in the model rather than in PNG decoding; augmentation runs on the cached tensors.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from sklearn.metrics import f1_score
from torch import nn
from torchvision.transforms import v2

from pipeline.atomic import atomic_path
from pipeline.errors import MasksetError
from pipeline.manifest import LABELS
from pipeline.models import build_model


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "simple_cnn"
    image_size: int = 64
    grayscale: bool = False
    epochs: int = 6
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 0.001
    weight_decay: float = 0.0
    momentum: float = 0.9
    class_weights: bool = True
    augment: dict = field(default_factory=dict)
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be adam or sgd, got {self.optimizer!r}")
        unknown = set(self.augment) - {"hflip", "rotation", "brightness"}
        if unknown:
            raise ValueError(f"unknown augment keys {sorted(unknown)}; known: hflip, rotation, brightness")


def load_tensor_cache(paths: list[str], size: int, grayscale: bool) -> torch.Tensor:
    """(N, C, size, size) uint8: every face decoded and resized once."""
    mode = "L" if grayscale else "RGB"
    out = torch.empty((len(paths), 1 if grayscale else 3, size, size), dtype=torch.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as im:
            arr = np.asarray(im.convert(mode).resize((size, size), Image.Resampling.BILINEAR))
        out[i] = torch.from_numpy(arr.reshape(size, size, -1).transpose(2, 0, 1).copy())
    return out


def normalise(batch: torch.Tensor) -> torch.Tensor:
    """uint8 -> float in [-1, 1]; stored with the model so evaluation matches training."""
    return batch.float().div(127.5).sub(1.0)


def augmenter(augment: dict) -> Callable[[torch.Tensor], torch.Tensor]:
    steps: list[nn.Module] = []
    if augment.get("hflip"):
        steps.append(v2.RandomHorizontalFlip())
    if augment.get("rotation"):
        steps.append(v2.RandomRotation(float(augment["rotation"])))
    if augment.get("brightness"):
        steps.append(v2.ColorJitter(brightness=float(augment["brightness"])))
    return v2.Compose(steps) if steps else (lambda x: x)


def classes_of(df: pd.DataFrame) -> list[str]:
    """The labels the model predicts, in the canonical order; the train split must hold 2+."""
    present = set(df.loc[df["split"] == "train", "label"])
    classes = [label for label in LABELS if label in present]
    if len(classes) < 2:
        raise MasksetError(
            f"the train split holds only {classes}: a classifier needs two classes "
            "(enable synthesize for the unmasked sources, or add a masked source)"
        )
    return classes


def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return (
            torch.cat(
                [model(normalise(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
            )
            if len(images)
            else torch.empty(0)
        )


def train(
    df: pd.DataFrame, config: TrainConfig, log: Callable[[dict[str, float]], None]
) -> tuple[nn.Module, dict]:
    """Train on split == train, pick the epoch with the best val macro F1; `log` receives
    each epoch's metrics. Returns (model, metadata needed to load and use it)."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    classes = classes_of(df)
    index = {label: i for i, label in enumerate(classes)}
    train_df = df[(df["split"] == "train") & df["label"].isin(classes)]
    val_df = df[(df["split"] == "val") & df["label"].isin(classes)]
    x_train = load_tensor_cache(list(train_df["path"]), config.image_size, config.grayscale)
    y_train = torch.tensor([index[v] for v in train_df["label"]])
    x_val = load_tensor_cache(list(val_df["path"]), config.image_size, config.grayscale)
    y_val = torch.tensor([index[v] for v in val_df["label"]])

    model = build_model(config.arch, len(classes), x_train.shape[1], config.image_size)
    # split's balance: oversample repeats minority rows; each epoch draws every row that often
    repeats = train_df["repeats"] if "repeats" in train_df else pd.Series(1, index=train_df.index)
    draws = torch.repeat_interleave(
        torch.arange(len(x_train)), torch.tensor(repeats.fillna(1).astype(int).to_numpy())
    )
    # weights from the rows as drawn: after oversampling they are all about 1
    counts = torch.bincount(y_train[draws], minlength=len(classes)).clamp(min=1).float()
    weight = counts.sum() / (len(classes) * counts) if config.class_weights else None
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    if config.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    else:
        opt = torch.optim.SGD(
            model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    augment = augmenter(config.augment)
    generator = torch.Generator().manual_seed(config.seed)
    best_f1, best_state, best_epoch, seen, started = -1.0, None, 0, 0, time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        order = draws[torch.randperm(len(draws), generator=generator)]
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            batch = torch.stack([augment(img) for img in x_train[idx]])
            opt.zero_grad()
            loss = loss_fn(model(normalise(batch)), y_train[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        logits = predict_logits(model, x_val)
        val_loss = float(nn.functional.cross_entropy(logits, y_val)) if len(y_val) else float("nan")
        pred = logits.argmax(1).numpy() if len(y_val) else np.array([])
        val_f1 = float(f1_score(y_val.numpy(), pred, average="macro", zero_division=0)) if len(y_val) else 0.0
        log(
            {
                "train_loss": total / max(len(draws), 1),
                "val_loss": val_loss,
                "val_accuracy": float((pred == y_val.numpy()).mean()) if len(y_val) else float("nan"),
                "val_f1_macro": val_f1,
            }
        )
        if val_f1 > best_f1:
            best_f1, best_epoch = val_f1, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    meta = {
        "arch": config.arch,
        "classes": classes,
        "image_size": config.image_size,
        "grayscale": config.grayscale,
        "in_channels": int(x_train.shape[1]),
        "best_epoch": best_epoch,
        "best_val_f1_macro": best_f1,
        "train_images_per_second": seen / max(time.perf_counter() - started, 1e-9),
        "train_rows": len(train_df),
        "train_draws_per_epoch": len(draws),
        "val_rows": len(val_df),
    }
    return model, meta


def save_model(model: nn.Module, meta: dict, directory: Path) -> None:
    """A plain state_dict plus JSON metadata: loadable with weights_only=True, no pickle."""
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / "model.pt") as tmp:
        torch.save(model.state_dict(), tmp)
    with atomic_path(directory / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def load_model(directory: Path) -> tuple[nn.Module, dict]:
    meta = json.loads((directory / "meta.json").read_text())
    model = build_model(meta["arch"], len(meta["classes"]), meta["in_channels"], meta["image_size"])
    model.load_state_dict(torch.load(directory / "model.pt", weights_only=True))
    model.eval()
    return model, meta
