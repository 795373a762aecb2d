"""dlib face detection, 68-point landmarks and 5-point eyes, with models from
`face-recognition-models`.

The model files ship inside an installed package, so nothing is downloaded at run time.
dlib objects are not picklable: each worker process loads its own on first use.
"""

from __future__ import annotations

import importlib.util
import typing
from functools import cache
from pathlib import Path
from typing import Literal

import dlib
import numpy as np

from pipeline.errors import MasksetError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1; x1/y1 exclusive
Detector = Literal["hog", "cnn"]
DETECTORS: tuple[str, ...] = typing.get_args(Detector)


def model_path(name: str) -> Path:
    """Path of a model file shipped by face-recognition-models (without importing it:
    its __init__ pulls in the deprecated pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MasksetError(
            "face-recognition-models is not installed: run `pip install -e .` as the README says"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise MasksetError(f"{path} is missing: reinstall face-recognition-models")
    return path


@cache
def _hog_detector() -> dlib.fhog_object_detector:
    return dlib.get_frontal_face_detector()


@cache
def _cnn_detector() -> dlib.cnn_face_detection_model_v1:
    return dlib.cnn_face_detection_model_v1(str(model_path("mmod_human_face_detector.dat")))


@cache
def _predictor() -> dlib.shape_predictor:
    return dlib.shape_predictor(str(model_path("shape_predictor_68_face_landmarks.dat")))


def detect_faces(
    rgb: np.ndarray, upsample: int = 1, method: str = "hog", min_score: float = 0.5
) -> list[Box]:
    """Face boxes clamped to the image, largest first. Detections scoring under `min_score`
    are dropped: at dlib's own threshold (0) the HOG detector takes the badge on the NASA
    astronaut's suit for a face (score 0.12; her face scores 1.16). `cnn` is slower (about
    1 s a photo here) but finds turned and masked faces the HOG detector misses."""
    height, width = rgb.shape[:2]
    if method == "hog":
        rects, scores, _ = _hog_detector().run(rgb, upsample, 0.0)
    elif method == "cnn":
        found = _cnn_detector()(rgb, upsample)
        rects, scores = [d.rect for d in found], [d.confidence for d in found]
    else:
        raise MasksetError(f"unknown face detector {method!r}: use one of {DETECTORS}")
    boxes = []
    for r, score in zip(rects, scores, strict=True):
        box = (
            max(r.left(), 0),
            max(r.top(), 0),
            min(r.right() + 1, width),
            min(r.bottom() + 1, height),
        )
        if score >= min_score and box[2] > box[0] and box[3] > box[1]:
            boxes.append(box)
    return sorted(boxes, key=lambda b: (-(b[2] - b[0]) * (b[3] - b[1]), b))


@cache
def _predictor_5() -> dlib.shape_predictor:
    return dlib.shape_predictor(str(model_path("shape_predictor_5_face_landmarks.dat")))


def eye_centres_5(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The two eye centres (image left first) from dlib's 5-point model inside `box`: the
    middle of each eye's two corners, as a (2, 2) float32 array. A model separate from the
    68-point one, trained on its own data, that sees only the eyes and the nose base."""
    x0, y0, x1, y1 = box
    shape = _predictor_5()(rgb, dlib.rectangle(int(x0), int(y0), int(x1) - 1, int(y1) - 1))
    corners = np.array([(p.x, p.y) for p in shape.parts()[:4]], dtype=np.float32)
    eyes = np.stack([corners[0:2].mean(0), corners[2:4].mean(0)])
    return eyes[np.argsort(eyes[:, 0])]


def landmarks_68(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The 68 iBUG points (x, y) inside `box`, as a (68, 2) float32 array in image pixels."""
    x0, y0, x1, y1 = box
    shape = _predictor()(rgb, dlib.rectangle(int(x0), int(y0), int(x1) - 1, int(y1) - 1))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
