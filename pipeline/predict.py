"""`maskset predict`: find the faces in a photo, classify each, draw labelled boxes.

The faces are found and cropped as ingest does it (dlib's detector, the same margin), so
the model sees crops like the ones it was trained on; the seed studies' visual demos did
the same with their own detectors. Photos that come with annotation boxes (PASCAL VOC or a
CSV table, the layouts ingest reads) can be classified box by box instead, which measures a
model on a labelled set without the detector's misses in the way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw

from pipeline.errors import MasksetError
from pipeline.faces import Box, detect_faces
from pipeline.families import load_model
from pipeline.images import ImageRejected, load_rgb
from pipeline.ingest import check_box, crop_box
from pipeline.layouts.boxes import Annotated, parse_box, read_voc, table_records
from pipeline.manifest import LABELS
from pipeline.model_meta import ModelMeta
from pipeline.preprocess import face_tensor, predict_logits
from pipeline.sources import DEFAULT_COLUMNS

COLOURS = {"mask": (40, 170, 70), "no_mask": (220, 40, 40), "incorrect_mask": (240, 150, 20)}


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the photo
    label: str
    confidence: float
    probabilities: dict[str, float]
    annotated: str | None = None  # the annotation's own label for a given box
    truth: str | None = None  # that label in our vocabulary, where it is known


@dataclass(frozen=True)
class GivenBox:
    """One annotated box of a photo: where it was written, its raw label and the box (or
    why it cannot be classified)."""

    where: str
    raw: str
    box: Box | None
    problem: tuple[str, str] | None = None


def read_boxes(path: Path, columns: tuple[str, ...] = DEFAULT_COLUMNS) -> dict[str, list[GivenBox]]:
    """Annotation boxes by image name: a folder of VOC files, one VOC file, or a CSV table
    (`columns`: name, xmin, ymin, xmax, ymax and optionally the label). A VOC file without
    `<filename>` is matched to the photo of its stem. A file that cannot be read is an error
    naming it: a wrong --boxes should stop the run, not classify nothing."""
    records: list[Annotated]
    if path.is_dir():
        records = [_voc(file) for file in sorted(path.glob("*.xml"))]
        if not records:
            raise MasksetError(f"--boxes {path}: a folder with no VOC .xml file in it")
    elif path.suffix.lower() == ".xml":
        records = [_voc(path)]
    elif path.suffix.lower() == ".csv":
        records = _table(path, columns)
    else:
        raise MasksetError(f"--boxes {path}: not a folder of VOC files, a .xml or a .csv")
    boxes: dict[str, list[GivenBox]] = {}
    for record in records:
        name = PurePosixPath(record.image.replace("\\", "/")).name
        for where, raw, values in record.objects:
            box, problem = parse_box(values)
            boxes.setdefault(name, []).append(GivenBox(where, raw, box, problem))
    return boxes


def _voc(file: Path) -> Annotated:
    try:
        return read_voc(file, file.name, lambda: file.stem)
    except (OSError, ValueError) as exc:
        raise MasksetError(f"--boxes {file}: not a readable VOC file ({exc})") from None


def _table(path: Path, columns: tuple[str, ...]) -> list[Annotated]:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise MasksetError(f"--boxes {path}: {type(exc).__name__}: {exc}") from None
    missing = [c for c in columns if c not in df.columns]
    if len(columns) not in (5, 6) or missing:
        raise MasksetError(
            f"--boxes {path}: --columns must name 5 or 6 of its columns (file, xmin, ymin, xmax, ymax"
            f"[, label]); {missing or list(columns)} not in {list(df.columns)}"
        )
    return list(table_records(df, columns, path.name))


def boxes_of(photo: Path, boxes: dict[str, list[GivenBox]]) -> list[GivenBox] | None:
    """A photo's annotated boxes by its file name (or its stem, for VOC files that name no
    image); None when the annotations do not mention it."""
    return boxes.get(photo.name, boxes.get(photo.stem))


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
    used = "hog" if detector == "auto" else detector
    boxes = detect_faces(rgb, upsample=upsample, method=used, min_score=min_score)
    if not boxes and detector == "auto":
        used = "cnn"
        boxes = detect_faces(rgb, upsample=upsample, method=used, min_score=min_score)
    return classify_boxes(rgb, boxes, model, meta, margin), used


def classify_boxes(
    rgb: np.ndarray,
    boxes: list[Box],
    model: torch.nn.Module,
    meta: ModelMeta,
    margin: float = 0.1,
    annotated: list[str] | None = None,
    truth: Callable[[str], str | None] = lambda raw: None,
) -> list[Face]:
    """The model's label and probabilities for each box of `rgb`, cropped with ingest's
    margin; `annotated` gives each box's raw label, `truth` maps one to our vocabulary."""
    if not boxes:
        return []
    height, width = rgb.shape[:2]
    crops = [crop_box(box, width, height, margin) for box in boxes]
    photo = Image.fromarray(rgb)
    batch = torch.stack([face_tensor(photo.crop(c), meta.image_size, meta.grayscale) for c in crops])
    probs = torch.softmax(predict_logits(model, batch, meta.normalize), dim=1).numpy()
    classes = meta.classes
    raws: list[str | None] = list(annotated) if annotated is not None else [None] * len(boxes)
    return [
        Face(
            box,
            classes[int(p.argmax())],
            float(p.max()),
            {c: float(v) for c, v in zip(classes, p, strict=True)},
            raw,
            None if raw is None else truth(raw),
        )
        for box, p, raw in zip(boxes, probs, raws, strict=True)
    ]


def canonical(raw: str) -> str | None:
    """An annotation label already in our vocabulary (`mask`, `no_mask`, `incorrect_mask`)."""
    return raw if raw in LABELS else None


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


def predict_files(
    paths: list[Path],
    model_dir: Path,
    out_dir: Path | None,
    boxes: dict[str, list[GivenBox]] | None = None,
    truth: Callable[[str], str | None] = canonical,
    **detect,
) -> list[dict]:
    """Classify the faces of each photo, and with `out_dir` write `<out_dir>/<name>.png`
    with the boxes drawn. With `boxes` (from read_boxes) a photo's annotated boxes are
    classified instead of detected faces; a box that cannot be (no area, outside the photo)
    is listed under `skipped` with its reason, and a photo the annotations do not name is an
    error. A photo that cannot be read (or does not exist) is reported with its reason, and
    the others still run."""
    model, meta = load_model(model_dir)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    for path in paths:
        given = None if boxes is None else boxes_of(path, boxes)
        if boxes is not None and given is None:
            results.append({"image": str(path), "error": "no annotation names this photo", "faces": []})
            continue
        try:
            rgb = load_rgb(path)
        except ImageRejected as exc:
            results.append({"image": str(path), "error": f"cannot read ({exc})", "faces": []})
            continue
        skipped: list[dict] = []
        if given is None:
            faces, used = classify_faces(rgb, model, meta, **detect)
        else:
            kept, skipped = _usable(given, rgb)
            used = "annotation"
            raws = [raw for _, raw in kept]
            faces = classify_boxes(rgb, [box for box, _ in kept], model, meta, annotated=raws, truth=truth)
        target = None if out_dir is None else out_dir / f"{path.stem}.png"
        if target is not None:
            draw(rgb, faces).save(target)
        result = {
            "image": str(path),
            "output": None if target is None else str(target),
            "detector": used,
            "faces": [_face_record(f) for f in faces],
        }
        if given is not None:
            result["skipped"] = skipped
        results.append(result)
    return results


def _usable(given: list[GivenBox], rgb: np.ndarray) -> tuple[list[tuple[Box, str]], list[dict]]:
    """(box, raw label) of the boxes that can be cropped (clamped to the photo as ingest
    does), and the others with their reasons."""
    height, width = rgb.shape[:2]
    kept: list[tuple[Box, str]] = []
    skipped: list[dict] = []
    for item in given:
        problem = item.problem
        box = None
        if problem is None and item.box is not None:
            box, problem = check_box(item.box, width, height, min_face=1)
        if problem or box is None:
            reason, detail = problem or ("bad_box", "no box")
            skipped.append({"where": item.where, "annotated": item.raw, "reason": reason, "detail": detail})
        else:
            kept.append((box, item.raw))
    return kept, skipped


def _face_record(face: Face) -> dict:
    record: dict = {
        "box": list(face.box),
        "label": face.label,
        "confidence": face.confidence,
        "probabilities": face.probabilities,
    }
    if face.annotated is not None:
        record |= {"annotated": face.annotated, "truth": face.truth}
        record["correct"] = None if face.truth is None else face.truth == face.label
    return record


def agreement(results: list[dict]) -> dict[str, int]:
    """Boxes classified as annotated, of those whose annotation is in our vocabulary."""
    faces = [f for r in results for f in r["faces"] if f.get("truth")]
    unknown = sum(1 for r in results for f in r["faces"] if "annotated" in f and not f.get("truth"))
    return {"agree": sum(f["correct"] for f in faces), "labelled": len(faces), "unknown_label": unknown}
