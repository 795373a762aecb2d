"""Training torch models on the split manifest, on CPU, with per-epoch curves for `dvc plots`.

Images are decoded and resized once into a uint8 tensor cache, so the epochs spend their
time in the model rather than in PNG decoding; augmentation runs on the cached tensors.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from math import ceil
from pathlib import Path
from typing import Literal, cast

import pandas as pd
import torch
from sklearn.metrics import f1_score
from torch import nn
from torchvision.transforms import v2
from tqdm import tqdm

from pipeline.config import setting
from pipeline.errors import MasksetError
from pipeline.manifest import LABELS, LabelName, read_manifest
from pipeline.model_meta import ModelMeta
from pipeline.models import Backbone, build_model
from pipeline.preprocess import load_tensor_cache, normalise, predict_logits


@dataclass(frozen=True)
class Augment:
    """Augmentations applied to each cached face as it is drawn; 0 / false is off."""

    hflip: bool = False
    rotation: float = setting(0.0, ge=0, le=180)  # degrees, either way
    brightness: float = setting(0.0, ge=0, le=1)  # ColorJitter factors
    contrast: float = setting(0.0, ge=0, le=1)
    saturation: float = setting(0.0, ge=0, le=1)
    resized_crop: float = setting(0.0, ge=0, le=1)  # the smallest share of the face a crop keeps
    noise: float = setting(0.0, ge=0, le=128)  # Gaussian pixel noise, sigma in 0-255 units
    # the domain gap to crowd and web photos: small faces, soft focus, heavy compression
    zoom_out: float = setting(0.0, ge=0, lt=1)  # framing: the face shrunk to this share, edges extended
    top_crop: float = setting(0.0, ge=0, lt=1)  # framing: up to this share of the top (forehead) cut off
    downscale: float = setting(0.0, ge=0, lt=1)  # resolution jitter: shrink to this share, at least
    blur: float = setting(0.0, ge=0, le=10)  # Gaussian blur, sigma up to this many pixels
    jpeg: int = setting(0, ge=0, le=100)  # JPEG re-encoding at a quality from this to 100; 0 = off
    probability: float = setting(0.5, ge=0, le=1)  # of each of zoom_out, top_crop, downscale, blur, jpeg


@dataclass(frozen=True)
class SvmOptions:
    """The SVM baseline's search (pipeline/svm.py)."""

    pca: int = setting(50, ge=1)  # components, at most
    C: tuple[float, ...] = setting((1.0, 10.0, 100.0), gt=0, nonempty=True, unique=True)
    gamma: tuple[Literal["scale", "auto"] | float, ...] = setting(
        ("scale",), gt=0, nonempty=True, unique=True
    )
    folds: int = setting(3, ge=2)


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "simple_cnn"  # a key of the model families' registry (pipeline/families.py)
    image_size: int = setting(64, ge=8, le=1024)
    grayscale: bool = False
    classes: tuple[LabelName, ...] = setting((), unique=True)  # the labels predicted; () = all in train
    normalize: Literal["unit", "imagenet", "raw"] = "unit"
    epochs: int = setting(6, ge=1)
    batch_size: int = setting(32, ge=2)  # BatchNorm needs two faces a batch
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = setting(0.001, ge=0)
    weight_decay: float = setting(0.0, ge=0)
    momentum: float = setting(0.9, ge=0, le=1)
    schedule: Literal["none", "step", "cosine"] = "none"
    step_size: int = setting(5, ge=1)  # step schedule: epochs between decays
    gamma: float = setting(0.1, gt=0, le=1)  # step schedule: decay factor
    patience: int = setting(0, ge=0)  # stop after this many epochs without a better val F1; 0 = never
    # keep the average of the weights from this epoch (1-based) to the last, not the best
    # val epoch (stochastic weight averaging); 0 = off; train.average_from
    average_from: int = setting(0, ge=0)
    sampler: Literal["shuffle", "balanced"] = "shuffle"  # balanced: each class drawn equally often
    class_weights: bool = True
    augment: Augment = Augment()
    pretrained: bool = False
    head_epochs: int = setting(0, ge=0)  # two-phase fine-tuning: the new head alone this many epochs
    # the faces learnt from: `exclude` drops synthetic ones (fine-tuning on real faces only)
    synthetic: Literal["include", "exclude"] = "include"
    svm: SvmOptions = SvmOptions()  # arch svm only
    amp: bool = False  # mixed precision (float16 autocast) on a CUDA device; ignored on the CPU
    seed: int = 0
    threads: int = setting(2, ge=1)
    device: str = "auto"  # auto (CUDA when present) | cpu | cuda | cuda:N; train.device
    # worker processes that augment the next batches while the model trains (a GPU waits on
    # this process's augmentation otherwise); 0 = in this process; train.loader_workers
    loader_workers: int = setting(0, ge=0)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if len(self.classes) == 1:
            raise ValueError(
                f"classes must be two or more of {LABELS} (or [] for all), got {list(self.classes)}"
            )
        if self.head_epochs and not self.arch.startswith(("resnet", "mobilenet", "inception")):
            raise ValueError("head_epochs (two-phase fine-tuning) needs a torchvision backbone")
        if self.head_epochs > self.epochs:
            raise ValueError(f"head_epochs ({self.head_epochs}) must not exceed epochs ({self.epochs})")


class Downscale(nn.Module):
    """Shrink to a random share in [smallest, 1] and back: a face seen with fewer pixels,
    as crowd photos give (RandomResizedCrop changes framing, not resolution)."""

    def __init__(self, smallest: float) -> None:
        super().__init__()
        self.smallest = smallest

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        size = img.shape[-2:]
        share = self.smallest + (1 - self.smallest) * float(torch.rand(()))
        small = [max(4, round(side * share)) for side in size]
        down = v2.functional.resize(img, small, antialias=True)
        return v2.functional.resize(down, list(size), antialias=False)


class ZoomOut(nn.Module):
    """The face shrunk to a random share in [smallest, 1] at a random place in its frame,
    the border pixels extended around it: a loosely framed face, as photos cropped by hand
    or by another detector give (RandomResizedCrop only ever frames tighter)."""

    def __init__(self, smallest: float) -> None:
        super().__init__()
        self.smallest = smallest

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        share = self.smallest + (1 - self.smallest) * float(torch.rand(()))
        sh, sw = max(2, round(h * share)), max(2, round(w * share))
        small = v2.functional.resize(img, [sh, sw], antialias=True)
        top, left = int(torch.randint(0, h - sh + 1, ())), int(torch.randint(0, w - sw + 1, ()))
        pad = (left, w - sw - left, top, h - sh - top)
        return nn.functional.pad(small[None].float(), pad, mode="replicate")[0].to(img.dtype)


class TopCrop(nn.Module):
    """A window anchored at the bottom centre, a random share in [1 - largest, 1] of the
    image's side, resized back: the forehead cut off, as in tight crops that start at the
    eyebrows (RMFD's), which aligned faces with the whole head never show."""

    def __init__(self, largest: float) -> None:
        super().__init__()
        self.largest = largest

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        keep = 1 - self.largest * float(torch.rand(()))
        sh, sw = max(2, round(h * keep)), max(2, round(w * keep))
        left = (w - sw) // 2
        window = img[..., h - sh :, left : left + sw]
        return v2.functional.resize(window, [h, w], antialias=True)


class GaussianNoise(nn.Module):
    """Additive pixel noise with `sigma` in 0-255 units, on uint8 images."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        noisy = img.float() + torch.randn(img.shape) * self.sigma
        return noisy.clamp(0, 255).to(torch.uint8)


def augmenter(augment: Augment, image_size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The torchvision v2 pipeline the params name, applied per cached image."""
    steps: list[nn.Module] = []
    if augment.resized_crop:
        steps.append(v2.RandomResizedCrop(image_size, scale=(augment.resized_crop, 1.0), antialias=True))
    if augment.hflip:
        steps.append(v2.RandomHorizontalFlip())
    if augment.rotation:
        steps.append(v2.RandomRotation(augment.rotation))
    jitter = {k: getattr(augment, k) for k in ("brightness", "contrast", "saturation") if getattr(augment, k)}
    if jitter:
        steps.append(v2.ColorJitter(**jitter))
    if augment.noise:
        steps.append(GaussianNoise(augment.noise))
    degrade: list[nn.Module] = []
    if augment.zoom_out:
        degrade.append(ZoomOut(augment.zoom_out))
    if augment.top_crop:
        degrade.append(TopCrop(augment.top_crop))
    if augment.downscale:
        degrade.append(Downscale(augment.downscale))
    if augment.blur:
        degrade.append(v2.GaussianBlur(kernel_size=2 * ceil(3 * augment.blur) + 1, sigma=(0.1, augment.blur)))
    if augment.jpeg:
        degrade.append(v2.JPEG((augment.jpeg, 100)))
    steps.extend(v2.RandomApply([step], p=augment.probability) for step in degrade)
    return v2.Compose(steps) if steps else (lambda x: x)


def classes_of(df: pd.DataFrame, wanted: tuple[str, ...] = ()) -> list[str]:
    """The labels the model predicts, in the canonical order: `wanted`, or every label in
    the train split; the train split must hold two of them."""
    present = set(df.loc[df["split"] == "train", "label"])
    classes = [label for label in LABELS if label in present and (not wanted or label in wanted)]
    if len(classes) < 2:
        raise MasksetError(
            f"the train split holds only {classes} of the classes asked for: a classifier needs two "
            "(enable synthesize for the unmasked sources, or add a masked source)"
        )
    return classes


BN_IMAGES = 4096  # train faces BatchNorm statistics are recomputed from (a seeded sample beyond)


def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def recompute_bn_stats(
    model: nn.Module, images: torch.Tensor, how: str, generator: torch.Generator, batch_size: int = 64
) -> None:
    """Set every BatchNorm layer's running mean and variance to the train faces' own, as
    averages over batches (torch's update_bn). Torchvision's momentum (0.01 for MobileNetV3,
    0.1 elsewhere) leaves them far from the weights' statistics after a few hundred steps, so
    eval mode, which uses them, can predict one class for every face while train mode scores
    well. Unaugmented faces, so evaluation sees the statistics of what it will be given."""
    if not len(images):
        return
    rows = torch.randperm(len(images), generator=generator)[:BN_IMAGES].sort().values
    chunks = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    if len(chunks) > 1 and len(chunks[-1]) == 1:  # BatchNorm cannot take one value per channel
        chunks.pop()
    with torch.no_grad():
        device = next(model.parameters()).device
        torch.optim.swa_utils.update_bn((normalise(images[c], how) for c in chunks), model, device)


def resolve_device(name: str) -> torch.device:
    """`auto` is the first CUDA device where torch sees one, else the CPU; a CUDA device
    asked for by name where there is none is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MasksetError(f"train.device {name}: torch sees no CUDA device here; use auto or cpu")
    return torch.device(name)


class _Drawn(torch.utils.data.Dataset):
    """Cached faces, each augmented as it is drawn, with its label: what loader workers serve."""

    def __init__(self, faces: torch.Tensor, labels: torch.Tensor, augment: Callable) -> None:
        self.faces, self.labels, self.augment = faces, labels, augment

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.augment(self.faces[i]), self.labels[i]


def epoch_batches(
    faces: torch.Tensor,
    labels: torch.Tensor,
    order: torch.Tensor,
    augment: Callable,
    config: TrainConfig,
    device: torch.device,
    generator: torch.Generator,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(augmented faces, labels) of one epoch, batch by batch in `order`. With
    `loader_workers` 0 they are augmented here, drawing on torch's global random state as
    before; otherwise a DataLoader's worker processes prepare the next batches (into pinned
    memory for a GPU) while this one trains, each seeded from `generator`, so a run is
    repeatable for a given number of workers. The cache is memory-mapped or held by the
    parent, and the forked workers share its pages."""
    if config.loader_workers == 0:
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            yield torch.stack([augment(img) for img in faces[idx]]), labels[idx]
        return
    yield from torch.utils.data.DataLoader(
        _Drawn(faces, labels, augment),
        batch_size=config.batch_size,
        sampler=order.tolist(),
        num_workers=config.loader_workers,
        pin_memory=device.type == "cuda",
        generator=generator,
        multiprocessing_context="fork",
    )


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU batch on `device`; through pinned memory to a GPU, so the copy overlaps compute."""
    if device.type == "cpu":
        return batch
    return batch.pin_memory().to(device, non_blocking=True)


def _optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def _scheduler(opt: torch.optim.Optimizer, config: TrainConfig, epochs: int):
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=config.step_size, gamma=config.gamma)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    return None


def _epoch_order(draws: torch.Tensor, labels: torch.Tensor, config: TrainConfig, generator) -> torch.Tensor:
    """The rows one epoch visits: a shuffle of `draws`, or as many draws with each class
    equally likely (`sampler: balanced`, the seed studies' balanced sampler)."""
    if config.sampler == "balanced":
        per_class = torch.bincount(labels[draws]).float()
        weights = 1.0 / per_class[labels[draws]]
        return draws[torch.multinomial(weights, len(draws), replacement=True, generator=generator)]
    return draws[torch.randperm(len(draws), generator=generator)]


def validation_metrics(
    model: nn.Module, x_val: torch.Tensor, y_val: torch.Tensor, config: TrainConfig
) -> dict:
    """Eval-mode loss, accuracy and macro F1 on the val faces (NaN and 0 with none)."""
    if not len(y_val):
        return {"val_loss": float("nan"), "val_accuracy": float("nan"), "val_f1_macro": 0.0}
    logits = predict_logits(model, x_val, config.normalize)
    pred = logits.argmax(1).numpy()
    return {
        "val_loss": float(nn.functional.cross_entropy(logits, y_val)),
        "val_accuracy": float((pred == y_val.numpy()).mean()),
        "val_f1_macro": float(f1_score(y_val.numpy(), pred, average="macro", zero_division=0)),
    }


def _keep_average(
    model: nn.Module,
    averaged: torch.optim.swa_utils.AveragedModel,
    x_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    config: TrainConfig,
) -> float:
    """Load the averaged weights into `model` (BatchNorm statistics measured again: an
    average of weights has none of its own) and return their val macro F1. A synthetic val
    set scores every late epoch about alike (0.985-0.996 on the sim-to-real benchmark), so
    the best of them is a draw; the average is not."""
    model.load_state_dict(averaged.module.state_dict())
    if has_batch_norm(model):
        recompute_bn_stats(model, x_train, config.normalize, torch.Generator().manual_seed(config.seed))
    return validation_metrics(model, x_val, y_val, config)["val_f1_macro"]


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


# what training reads of the split manifest (torch and SVM families alike): the rest of its
# 40 columns (landmarks, hashes, provenance) would cost RAM per row and teach nothing
TRAIN_COLUMNS = ("path", "label", "split", "group", "synthetic", "repeats")


def load_training_rows(path: Path, config: TrainConfig) -> pd.DataFrame:
    """The split manifest's TRAIN_COLUMNS, of the rows `config` learns from."""
    return training_rows(read_manifest(path, TRAIN_COLUMNS), config)


def training_rows(df: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """The rows a model learns and validates on: with `synthetic: exclude`, the real faces
    only (the test split is evaluate's and is not touched by this)."""
    if config.synthetic == "include":
        return df
    real = df[~df["synthetic"].astype(bool)]
    left = sorted(set(real.loc[real["split"] == "train", "label"]))
    if len(left) < 2:
        raise MasksetError(
            f"synthetic: exclude leaves only {left} in the train split: every other face there is "
            "synthetic. Fine-tune on real faces needs a source with real faces of two labels"
        )
    return real


def check_init(init: ModelMeta, config: TrainConfig, classes: list[str], name: str) -> None:
    """A model can start from another's weights only where every tensor means the same:
    the same architecture, input and classes in the same order."""
    mine = (config.arch, config.image_size, config.grayscale, config.normalize, tuple(classes))
    theirs = (init.arch, init.image_size, init.grayscale, init.normalize, init.classes)
    fields = ("arch", "image_size", "grayscale", "normalize", "classes")
    differ = [f"{f} {a!r} vs {b!r}" for f, a, b in zip(fields, mine, theirs, strict=True) if a != b]
    if differ:
        raise MasksetError(f"init_from {name}: its weights do not fit this model ({'; '.join(differ)})")


def train(
    df: pd.DataFrame,
    config: TrainConfig,
    log: Callable[[dict[str, float]], None],
    init: nn.Module | None = None,
    cache_dir: Path | None = None,
) -> tuple[nn.Module, ModelMeta]:
    """Train on split == train, keep the epoch with the best val macro F1 (stopping early
    after `patience` epochs without one); `log` receives each epoch's metrics. `init` is a
    trained model to start from (see check_init); `cache_dir` keeps the decoded faces in
    memory-mapped files there instead of RAM. Returns (model, metadata needed to load and
    use it)."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    amp = config.amp and device.type == "cuda"
    classes = classes_of(df, config.classes)
    index = {label: i for i, label in enumerate(classes)}
    train_df = df[(df["split"] == "train") & df["label"].isin(classes)]
    val_df = df[(df["split"] == "val") & df["label"].isin(classes)]
    mode = f"{config.image_size}-{'grey' if config.grayscale else 'rgb'}"
    on_disk = {role: None if cache_dir is None else cache_dir / f"{role}-{mode}" for role in ("train", "val")}
    x_train = load_tensor_cache(list(train_df["path"]), config.image_size, config.grayscale, on_disk["train"])
    y_train = torch.tensor([index[v] for v in train_df["label"]])
    x_val = load_tensor_cache(list(val_df["path"]), config.image_size, config.grayscale, on_disk["val"])
    y_val = torch.tensor([index[v] for v in val_df["label"]])

    model = build_model(config.arch, len(classes), x_train.shape[1], config.image_size, config.pretrained)
    if init is not None:
        model.load_state_dict(init.state_dict())
    model.to(device)
    # split's balance: oversample repeats minority rows; each epoch draws every row that often
    repeats = train_df["repeats"] if "repeats" in train_df else pd.Series(1, index=train_df.index)
    draws = torch.repeat_interleave(
        torch.arange(len(x_train)), torch.tensor(repeats.fillna(1).astype(int).to_numpy())
    )
    # weights from the rows as drawn: after oversampling or a balanced sampler, about 1
    counts = torch.bincount(y_train[draws], minlength=len(classes)).clamp(min=1).float()
    balanced = config.class_weights and config.sampler != "balanced"
    weight = (counts.sum() / (len(classes) * counts)).to(device) if balanced else None
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    # two-phase fine-tuning: the new head alone first, then every layer
    # (TrainConfig allows head_epochs for torchvision backbones only)
    phases = [(config.head_epochs, cast(Backbone, model).head.parameters())] if config.head_epochs else []
    phases.append((config.epochs - config.head_epochs, model.parameters()))
    augment = augmenter(config.augment, config.image_size)
    batch_norm = has_batch_norm(model)
    generator = torch.Generator().manual_seed(config.seed)
    best_f1, best_state, best_epoch, seen, started = -1.0, None, 0, 0, time.perf_counter()
    averaged = torch.optim.swa_utils.AveragedModel(model) if config.average_from else None
    epoch, stale = 0, 0
    for phase_epochs, params in phases:
        opt = _optimizer(params, config)
        scheduler = _scheduler(opt, config, phase_epochs)
        for _ in range(phase_epochs):
            if config.patience and stale >= config.patience:
                break
            order = _epoch_order(draws, y_train, config, generator)
            progress = tqdm(
                total=len(order), desc=f"epoch {epoch + 1}", unit="img", leave=False, disable=None
            )
            model.train()
            total = 0.0
            for faces, labels in epoch_batches(x_train, y_train, order, augment, config, device, generator):
                batch = to_device(faces, device)
                opt.zero_grad()
                with torch.autocast(device.type, enabled=amp):
                    loss = loss_fn(model(normalise(batch, config.normalize)), to_device(labels, device))
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                total += loss.item() * len(labels)
                progress.update(len(labels))
            progress.close()
            seen += len(order)
            if scheduler is not None:
                scheduler.step()
            if averaged is not None and epoch + 1 >= config.average_from:
                averaged.update_parameters(model)
            if batch_norm:
                recompute_bn_stats(
                    model, x_train, config.normalize, torch.Generator().manual_seed(config.seed)
                )
            metrics = {
                "train_loss": total / max(len(order), 1),
                **validation_metrics(model, x_val, y_val, config),
            }
            if metrics["val_f1_macro"] > best_f1:
                best_f1, best_epoch, stale = metrics["val_f1_macro"], epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
            log(metrics | {"lr": opt.param_groups[0]["lr"], "best_val_f1_macro": best_f1})
            epoch += 1
            elapsed = time.perf_counter() - started
            tqdm.write(
                f"epoch {epoch}/{config.epochs}: train_loss {metrics['train_loss']:.4f}, "
                f"val_f1_macro {metrics['val_f1_macro']:.3f} (kept: epoch {best_epoch + 1}, {best_f1:.3f}), "
                f"{seen / elapsed:.0f} images/s, ETA {_duration(elapsed / epoch * (config.epochs - epoch))}",
                file=sys.stderr,
            )
    assert best_state is not None  # epochs >= 1, so one epoch was the best
    model.load_state_dict(best_state)
    if averaged is not None and int(averaged.n_averaged) > 0:
        best_f1, best_epoch = _keep_average(model, averaged, x_train, x_val, y_val, config), epoch - 1
    model.to("cpu")  # saved and used from here on the CPU; the state_dict is device-free
    meta = ModelMeta(
        arch=config.arch,
        classes=tuple(classes),
        image_size=config.image_size,
        grayscale=config.grayscale,
        normalize=config.normalize,
        in_channels=int(x_train.shape[1]),
        best_val_f1_macro=best_f1,
        train_rows=len(train_df),
        val_rows=len(val_df),
        best_epoch=best_epoch,
        epochs_run=epoch,
        details={
            "device": str(device),
            "train_images_per_second": seen / max(time.perf_counter() - started, 1e-9),
            "train_draws_per_epoch": len(draws),
        },
    )
    return model, meta
