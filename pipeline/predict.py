"""`maskset predict`: find the faces in a photo, classify each, draw labelled boxes.

The faces are found and cropped as ingest does it (dlib's detector, the same margin), so
the model sees crops like the ones it was trained on; the seed studies' visual demos did
the same with their own detectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from pipeline.faces import detect_faces
from pipeline.families import load_model
from pipeline.images import ImageRejected, load_rgb
from pipeline.ingest import crop_box
from pipeline.model_meta import ModelMeta
from pipeline.preprocess import face_tensor, predict_logits

COLOURS = {"mask": (40, 170, 70), "no_mask": (220, 40, 40), "incorrect_mask": (240, 150, 20)}


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the photo
    label: str
    confidence: float
    probabilities: dict[str, float]


def classify_faces(
    rgb: np.ndarray,
    model: torch.nn.Module,
    meta: ModelMeta,
    detector: str = "auto",
    upsample: int = 1,
    margin: float = 0.1,
    min_score: float = 0.5,
) -> tuple[list[Face], str]:
    """(every face the detector finds in `rgb`, with the model's label and probabilities;
    the detector that found them). `auto` is HOG, then the CNN detector on a photo where HOG
    finds none: HOG misses most masked and turned faces, and the CNN's 1-10 s a photo is
    worth paying only where the fast one found nothing."""
    height, width = rgb.shape[:2]
    used = "hog" if detector == "auto" else detector
    boxes = detect_faces(rgb, upsample=upsample, method=used, min_score=min_score)
    if not boxes and detector == "auto":
        used = "cnn"
        boxes = detect_faces(rgb, upsample=upsample, method=used, min_score=min_score)
    if not boxes:
        return [], used
    crops = [crop_box(box, width, height, margin) for box in boxes]
    photo = Image.fromarray(rgb)
    batch = torch.stack([face_tensor(photo.crop(c), meta.image_size, meta.grayscale) for c in crops])
    probs = torch.softmax(predict_logits(model, batch, meta.normalize), dim=1).numpy()
    classes = meta.classes
    faces = [
        Face(
            box,
            classes[int(p.argmax())],
            float(p.max()),
            {c: float(v) for c, v in zip(classes, p, strict=True)},
        )
        for box, p in zip(boxes, probs, strict=True)
    ]
    return faces, used


def draw(rgb: np.ndarray, faces: list[Face]) -> Image.Image:
    """The photo with a box and `label confidence` over each face."""
    image = Image.fromarray(rgb)
    pen = ImageDraw.Draw(image)
    line = max(2, round(min(image.size) / 200))
    for face in faces:
        colour = COLOURS.get(face.label, (60, 60, 220))
        pen.rectangle(face.box, outline=colour, width=line)
        text = f"{face.label} {face.confidence:.2f}"
        x0, y0 = face.box[0], max(0, face.box[1] - 14)
        pen.rectangle(pen.textbbox((x0, y0), text), fill=colour)
        pen.text((x0, y0), text, fill="white")
    return image


def predict_files(paths: list[Path], model_dir: Path, out_dir: Path | None, **detect) -> list[dict]:
    """Classify the faces of each photo, and with `out_dir` write `<out_dir>/<name>.png`
    with the boxes drawn. A photo that cannot be read (or does not exist) is reported with
    its reason, and the others still run."""
    model, meta = load_model(model_dir)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    for path in paths:
        try:
            rgb = load_rgb(path)
        except ImageRejected as exc:
            results.append({"image": str(path), "error": str(exc), "faces": []})
            continue
        faces, used = classify_faces(rgb, model, meta, **detect)
        target = None if out_dir is None else out_dir / f"{path.stem}.png"
        if target is not None:
            draw(rgb, faces).save(target)
        results.append(
            {
                "image": str(path),
                "output": None if target is None else str(target),
                "detector": used,
                "faces": [
                    {
                        "box": list(f.box),
                        "label": f.label,
                        "confidence": f.confidence,
                        "probabilities": f.probabilities,
                    }
                    for f in faces
                ],
            }
        )
    return results
