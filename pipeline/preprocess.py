"""How a face becomes a model's input, in training, evaluation, prediction and explanation alike.

One module, so a face is resized, converted and normalised the same way wherever a model
reads it: a mismatch here (another resampling filter, a forgotten normalisation) is a
silent accuracy loss no test split would show.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

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


def load_tensor_cache(paths: list[str], size: int, grayscale: bool) -> torch.Tensor:
    """(N, C, size, size) uint8: every face decoded and resized once. The faces were
    decoded when their stage wrote them, so one that fails now was damaged since: say which
    and how to rebuild it rather than die in PIL."""
    out = torch.empty((len(paths), 1 if grayscale else 3, size, size), dtype=torch.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                out[i] = face_tensor(im, size, grayscale)
        except OSError as exc:
            raise InvariantError(
                f"{path} no longer decodes ({exc}); it was readable when its stage wrote it: "
                "rebuild that stage's output (dvc repro --force <stage>) and train again"
            ) from None
    return out


def normalise(batch: torch.Tensor, how: str = "unit") -> torch.Tensor:
    """uint8 -> float by the named per-channel mean and std; stored with the model so
    evaluation matches training."""
    mean, std = NORMALISATIONS[how]
    channels = batch.shape[1]
    mean_t = torch.tensor(mean[:channels] if channels == 3 else (sum(mean) / 3,)).view(1, -1, 1, 1)
    std_t = torch.tensor(std[:channels] if channels == 3 else (sum(std) / 3,)).view(1, -1, 1, 1)
    return (batch.float() / 255.0 - mean_t) / std_t


def predict_logits(
    model: nn.Module, images: torch.Tensor, how: str = "unit", batch_size: int = 128
) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return (
            torch.cat(
                [model(normalise(images[i : i + batch_size], how)) for i in range(0, len(images), batch_size)]
            )
            if len(images)
            else torch.empty(0)
        )
