"""What a trained model needs to be used: `meta.json`, one typed, versioned record.

Evaluation, prediction, explanation and the App all read a model's classes, input size,
colour and normalisation from here, so they feed it faces the way training did. Loading
validates every field: a hand-edited or damaged file is refused with advice rather than
failing later as a shape mismatch deep inside torch.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.atomic import json_text
from pipeline.errors import ModelFileError
from pipeline.manifest import LABELS
from pipeline.preprocess import NORMALISATIONS

META_VERSION = 1


@dataclass(frozen=True)
class ModelMeta:
    arch: str
    classes: tuple[str, ...]  # what each logit means, in order
    image_size: int
    grayscale: bool
    normalize: str  # a key of NORMALISATIONS
    in_channels: int
    best_val_f1_macro: float  # of the kept model
    train_rows: int
    val_rows: int
    best_epoch: int = 0  # the kept epoch, 0-based (one-shot fits: 0)
    epochs_run: int = 1
    details: dict = field(default_factory=dict)  # family-specific facts: images/s, CV folds, ...
    version: int = META_VERSION

    def to_json(self) -> str:
        return json_text(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str, where: Path) -> ModelMeta:
        """The record in `text`, or a ModelFileError saying what is wrong with it."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _bad(where, f"is not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise _bad(where, f"holds a {type(data).__name__}, not a record")
        if data.get("version", META_VERSION) != META_VERSION:
            raise _bad(where, f"is version {data.get('version')!r}; this pipeline reads {META_VERSION}")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING} - {"details"}
        missing, unknown = required - set(data), set(data) - names
        if missing or unknown:
            raise _bad(where, f"lacks {sorted(missing)} / has unknown {sorted(unknown)}")
        for name, value in data.items():
            if not _fits(value, hints[name]):
                raise _bad(where, f"`{name}` is {value!r}, not {hints[name]}")
        meta = cls(**{**data, "classes": tuple(data["classes"])})
        if (
            len(meta.classes) < 2
            or set(meta.classes) - set(LABELS)
            or len(set(meta.classes)) < len(meta.classes)
        ):
            raise _bad(
                where, f"`classes` must be two or more distinct labels of {LABELS}, got {meta.classes}"
            )
        if meta.image_size < 1 or meta.in_channels not in (1, 3) or meta.normalize not in NORMALISATIONS:
            raise _bad(where, "needs image_size >= 1, in_channels 1 or 3 and a known normalize")
        return meta


def _fits(value: object, hint: object) -> bool:
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is dict:
        return isinstance(value, dict)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)  # tuple[str, ...]


def _bad(where: Path, what: str) -> ModelFileError:
    return ModelFileError(
        f"{where} {what}: it is not a meta.json this pipeline wrote, and the model was not loaded. "
        f"Retrain it: dvc repro train@{where.parent.name}"
    )
