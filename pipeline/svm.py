"""The CBS study's baseline: PCA and an RBF SVM on raw pixels, grid-searched by k-fold CV.

The folds are StratifiedGroupKFold on the split's groups, so crops of one photo never sit on
both sides of a fold (the leak the seed studies' own CV had); the Platt calibration inside
each candidate uses plain stratified folds, which scikit-learn cannot group. The fitted scikit-learn
pipeline is wrapped as a torch module that returns log-probabilities, so evaluation,
inspection and `maskset predict` treat it like any other model.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io
import torch
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from skops.io.exceptions import UntrustedTypesFoundException
from torch import nn

from pipeline.errors import MasksetError, ModelFileError
from pipeline.model_meta import ModelMeta
from pipeline.preprocess import load_tensor_cache
from pipeline.train import TrainConfig, classes_of

TRUSTED = ["sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration"]
MIN_PER_CLASS = 4


class SvmModel(nn.Module):
    """A fitted scikit-learn pipeline behind the torch interface the other models share."""

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__()
        self.pipeline = pipeline

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = self.pipeline.predict_proba(x.reshape(len(x), -1).numpy())
        return torch.log(torch.from_numpy(probs).clamp_min(1e-9)).float()


def _pixels(paths: list[str], config: TrainConfig) -> np.ndarray:
    return (
        load_tensor_cache(paths, config.image_size, config.grayscale).reshape(len(paths), -1).float().numpy()
    )


def train_svm(
    df: pd.DataFrame, config: TrainConfig, log: Callable[[dict[str, float]], None]
) -> tuple[SvmModel, ModelMeta]:
    """Grid search over C and gamma with group-aware CV on train; val F1 of the best."""
    svm = config.svm
    classes = classes_of(df, config.classes)
    train_df = df[(df["split"] == "train") & df["label"].isin(classes)]
    val_df = df[(df["split"] == "val") & df["label"].isin(classes)]
    x, y = _pixels(list(train_df["path"]), config), train_df["label"].map(classes.index).to_numpy()
    counts = np.bincount(y, minlength=len(classes))
    if counts.min() < MIN_PER_CLASS:
        few = classes[int(counts.argmin())]
        raise MasksetError(
            f"svm: the train split has {int(counts.min())} {few} face(s); its grid search and Platt "
            f"calibration (cross-validation inside cross-validation) need at least {MIN_PER_CLASS} per "
            "class. Add faces of that class, leave it out with `classes:`, or train a CNN instead"
        )
    # each class needs two faces in every fold's training part for the calibration's own folds
    folds = max(2, min(svm.folds, int(counts.min()) // 2, train_df["group"].nunique()))
    # PCA is fitted inside each fold twice over (search, then calibration): keep it that small
    components = max(1, min(svm.pca, len(x) * (folds - 1) // folds**2 - 1, x.shape[1]))
    weights = "balanced" if config.class_weights else None  # as the CNNs weight their loss
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("pca", PCA(components, whiten=True, random_state=config.seed)),
            # Platt scaling on held-out folds: probabilities that mean what they say
            (
                "svm",
                CalibratedClassifierCV(
                    SVC(kernel="rbf", class_weight=weights), method="sigmoid", ensemble=False, cv=folds
                ),
            ),
        ]
    )
    search = GridSearchCV(
        pipeline,
        {"svm__estimator__C": list(svm.C), "svm__estimator__gamma": list(svm.gamma)},
        scoring="f1_macro",
        cv=StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=config.seed),
        n_jobs=config.threads,
    )
    search.fit(x, y, groups=train_df["group"].to_numpy())
    model = SvmModel(search.best_estimator_)
    val_f1 = 0.0
    if len(val_df):
        pred = search.best_estimator_.predict(_pixels(list(val_df["path"]), config))
        val_f1 = float(f1_score(val_df["label"].map(classes.index), pred, average="macro", zero_division=0))
    log({"cv_f1_macro": float(search.best_score_), "val_f1_macro": val_f1})
    meta = ModelMeta(
        arch="svm",
        classes=tuple(classes),
        image_size=config.image_size,
        grayscale=config.grayscale,
        normalize="raw",
        in_channels=1 if config.grayscale else 3,
        best_val_f1_macro=val_f1,
        train_rows=len(train_df),
        val_rows=len(val_df),
        details={
            "best_params": {k.rsplit("__", 1)[1]: v for k, v in search.best_params_.items()},
            "cv_f1_macro": float(search.best_score_),
            "cv_folds": folds,
            "pca_components": components,
        },
    )
    return model, meta


def save_svm(model: SvmModel, directory: Path) -> Path:
    """skops, not joblib: a pickle runs whatever code it names when loaded, and a models/
    folder is exactly what people pass around (`dvc pull`, a shared drive)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.skops"
    skops.io.dump(model.pipeline, path)
    return path


def load_svm(directory: Path) -> SvmModel:
    """skops builds only the types it trusts by default (scikit-learn estimators, numpy
    arrays) plus the two private calibration classes our pipeline holds; a file naming any
    other type is refused before anything in it is constructed."""
    path = directory / "model.skops"
    try:
        return SvmModel(skops.io.load(path, trusted=TRUSTED))
    except UntrustedTypesFoundException as exc:
        raise ModelFileError(
            f"{path} holds types this pipeline never writes ({exc}); it was not loaded. "
            f"Retrain it: dvc repro train@{directory.name}"
        ) from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelFileError(
            f"{path} is missing or damaged ({type(exc).__name__}: {exc}); it was not loaded. "
            f"Retrain it: dvc repro train@{directory.name}"
        ) from None
