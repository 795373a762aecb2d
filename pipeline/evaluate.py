"""Evaluation: predictions for every row, metrics on the test split, curves for `dvc plots`.

Metrics come from scikit-learn so they mean what users expect; every number is computed on
test rows only, overall and per source, because a model that is right on synthetic masks
and wrong on real ones must not hide behind one average.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)
from torch import nn

from pipeline.manifest import Label
from pipeline.train import load_tensor_cache, predict_logits


def predictions(model: nn.Module, meta: dict, df: pd.DataFrame) -> pd.DataFrame:
    """One row per manifest row: predicted label, confidence and a probability per class."""
    images = load_tensor_cache(list(df["path"]), meta["image_size"], meta["grayscale"])
    probs = torch.softmax(predict_logits(model, images, meta.get("normalize", "unit")), dim=1).numpy()
    classes = meta["classes"]
    out = pd.DataFrame(
        {
            "id": df["id"].to_numpy(),
            "split": df["split"].to_numpy(),
            "source": df["source"].to_numpy(),
            "label": df["label"].to_numpy(),
            "synthetic": df["synthetic"].fillna(False).astype(bool).to_numpy(),
            "prediction": [classes[i] for i in probs.argmax(1)] if len(df) else [],
            "confidence": probs.max(1) if len(df) else [],
        }
    )
    for i, label in enumerate(classes):
        out[f"prob_{label}"] = probs[:, i]
    out["correct"] = out["label"] == out["prediction"]
    return out


def classification_metrics(truth: pd.Series, pred: pd.Series, classes: list[str]) -> dict:
    """Accuracy, per-class and macro precision / recall / F1, and support."""
    if not len(truth):
        return {"n": 0}
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=classes, zero_division=0)
    return {
        "n": len(truth),
        "accuracy": float(accuracy_score(truth, pred)),
        "precision_macro": float(p.mean()),
        "recall_macro": float(r.mean()),
        "f1_macro": float(f.mean()),
        "per_class": {
            c: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(s[i]),
            }
            for i, c in enumerate(classes)
        },
    }


def evaluate(preds: pd.DataFrame, classes: list[str]) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(metrics, confusion rows for dvc plots, ROC points) on the test split."""
    test = preds[(preds["split"] == "test") & preds["label"].isin(classes)]
    metrics = classification_metrics(test["label"], test["prediction"], classes)
    metrics["per_source"] = {
        source: classification_metrics(part["label"], part["prediction"], classes)
        for source, part in test.groupby("source")
    }
    metrics["per_origin"] = {
        ("synthetic" if synthetic else "real"): classification_metrics(
            part["label"], part["prediction"], classes
        )
        for synthetic, part in test.groupby("synthetic")
    }
    if len(test):
        matrix = confusion_matrix(test["label"], test["prediction"], labels=classes)
        metrics["confusion_matrix"] = {"labels": classes, "matrix": matrix.tolist()}
    confusion = test[["label", "prediction"]].rename(columns={"label": "actual", "prediction": "predicted"})
    positive = Label.MASK.value
    roc = pd.DataFrame(columns=["fpr", "tpr", "threshold"])
    if positive in classes and test["label"].nunique() > 1:
        is_pos = (test["label"] == positive).astype(int)
        fpr, tpr, thr = roc_curve(is_pos, test[f"prob_{positive}"])
        roc = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(thr, 1.0)})
        metrics["roc_auc_mask"] = float(roc_auc_score(is_pos, test[f"prob_{positive}"]))
    return metrics, confusion.reset_index(drop=True), roc
