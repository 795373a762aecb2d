"""How a face becomes a model's input, in training, evaluation, prediction and explanation alike.

One module, so a face is resized, converted and normalised the same way wherever a model
reads it: a mismatch here (another resampling filter, a forgotten normalisation) is a
silent accuracy loss no test split would show.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from pipeline.atomic import atomic_path, write_json
from pipeline.errors import InvariantError

NORMALISATIONS = {  # name -> (mean, std) per channel, on [0, 1] pixels
    "unit": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # [-1, 1]
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # what pretrained backbones saw
    "raw": ((0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255)),  # 0-255 floats: the SVM scales its own
}


def face_tensor(image: Image.Image, size: int, grayscale: bool) -> torch.Tensor:
    """(C, size, size) uint8: one face as every model sees it, in training and prediction."""
    arr = np.asarray(
        image.convert("L" if grayscale else "RGB").resize((size, size), Image.Resampling.BILINEAR)
    )
    return torch.from_numpy(arr.reshape(size, size, -1).transpose(2, 0, 1).copy())


def load_tensor_cache(
    paths: list[str], size: int, grayscale: bool, on_disk: Path | None = None
) -> torch.Tensor:
    """(N, C, size, size) uint8: every face decoded and resized once. The faces were
    decoded when their stage wrote them, so one that fails now was damaged since: say which
    and how to rebuild it rather than die in PIL.

    With `on_disk` (a file name without suffix) the tensor lives in `<on_disk>.npy`, memory-
    mapped copy-on-write, so RAM does not grow with the dataset: the pages a batch reads are
    the kernel's file cache, dropped under pressure, not the process's own memory (150 KiB a
    face at 224 px is 45 GB for 300,000 faces). The file is reused while the same files, at
    the same sizes and times, are asked for at the same size and mode, and rebuilt otherwise
    (a changed split, a rebuilt stage)."""
    shape = (len(paths), 1 if grayscale else 3, size, size)
    if on_disk is None:
        out = np.empty(shape, dtype=np.uint8)
        _fill(out, paths, size, grayscale)
        return torch.from_numpy(out)
    data, record = on_disk.with_suffix(".npy"), on_disk.with_suffix(".json")
    stamp = {"shape": list(shape), "files": _files_digest(paths)}
    if not (data.is_file() and record.is_file() and _read_json(record) == stamp):
        data.parent.mkdir(parents=True, exist_ok=True)
        record.unlink(missing_ok=True)  # a run killed mid-build leaves no record to trust
        with atomic_path(data) as tmp:
            mapped = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            _fill(mapped, paths, size, grayscale)
            mapped.flush()
            del mapped
        write_json(stamp, record)
    return torch.from_numpy(np.load(data, mmap_mode="c"))


def _fill(out: np.ndarray, paths: list[str], size: int, grayscale: bool) -> None:
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                out[i] = face_tensor(im, size, grayscale).numpy()
        except OSError as exc:
            raise InvariantError(
                f"{path} no longer decodes ({exc}); it was readable when its stage wrote it: "
                "rebuild that stage's output (dvc repro --force <stage>) and train again"
            ) from None


def _files_digest(paths: list[str]) -> str:
    """What the cache was built from: each file's name, size and modification time."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            info = os.stat(path)
            digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def normalise(batch: torch.Tensor, how: str = "unit") -> torch.Tensor:
    """uint8 -> float by the named per-channel mean and std; stored with the model so
    evaluation matches training."""
    mean, std = NORMALISATIONS[how]
    channels, device = batch.shape[1], batch.device
    mean_t = torch.tensor(mean[:channels] if channels == 3 else (sum(mean) / 3,), device=device)
    std_t = torch.tensor(std[:channels] if channels == 3 else (sum(std) / 3,), device=device)
    return (batch.float() / 255.0 - mean_t.view(1, -1, 1, 1)) / std_t.view(1, -1, 1, 1)


def predict_logits(
    model: nn.Module, images: torch.Tensor, how: str = "unit", batch_size: int = 128
) -> torch.Tensor:
    """Logits on the CPU, computed on the model's device (batches are moved there)."""
    model.eval()
    device = next(model.parameters(), torch.empty(0)).device
    with torch.no_grad():
        return (
            torch.cat(
                [
                    model(normalise(images[i : i + batch_size].to(device), how)).cpu()
                    for i in range(0, len(images), batch_size)
                ]
            )
            if len(images)
            else torch.empty(0)
        )
