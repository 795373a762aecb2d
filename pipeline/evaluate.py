"""Evaluation: predictions for every row, metrics on the test split, curves for `dvc plots`.

Metrics come from scikit-learn so they mean what users expect; every number is computed on
test rows only, overall and per source, because a model that is right on synthetic masks
and wrong on real ones must not hide behind one average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)
from torch import nn

from pipeline.config import setting
from pipeline.manifest import Label
from pipeline.model_meta import ModelMeta
from pipeline.preprocess import load_tensor_cache, predict_logits

# manifest columns whose values are groups a model may serve unequally
GROUP_COLUMNS = ("mask_type", "wear", "gender", "race", "skin_tone_bin")


def predictions(model: nn.Module, meta: ModelMeta, df: pd.DataFrame, batch_size: int = 128) -> pd.DataFrame:
    """One row per manifest row: predicted label, confidence and a probability per class."""
    images = load_tensor_cache(list(df["path"]), meta.image_size, meta.grayscale)
    logits = predict_logits(model, images, meta.normalize, batch_size)
    probs = torch.softmax(logits, dim=1).numpy()
    classes = meta.classes
    out = pd.DataFrame(
        {
            "id": df["id"].to_numpy(),
            "split": df["split"].to_numpy(),
            "source": df["source"].to_numpy(),
            "label": df["label"].to_numpy(),
            "synthetic": df["synthetic"].fillna(False).astype(bool).to_numpy(),
            **{column: df[column].to_numpy() for column in GROUP_COLUMNS if column in df},
            "prediction": [classes[i] for i in probs.argmax(1)] if len(df) else [],
            "confidence": probs.max(1) if len(df) else [],
        }
    )
    for i, label in enumerate(classes):
        out[f"prob_{label}"] = probs[:, i]
    out["correct"] = out["label"] == out["prediction"]
    return out


def classification_metrics(truth: pd.Series, pred: pd.Series, classes: list[str]) -> dict:
    """Accuracy, per-class and macro precision / recall / F1, and support. Macro averages
    run over the classes present in `truth` (`macro_over`): a slice without a class has no
    recall or F1 for it, and counting those as 0 would halve a perfect two-class score. A
    class that is absent gets recall and F1 None (undefined), precision only if predicted."""
    if not len(truth):
        return {"n": 0}
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=classes, zero_division=np.nan)
    present = [c for i, c in enumerate(classes) if s[i] > 0]
    keep = s > 0
    return {
        "n": len(truth),
        "accuracy": float(accuracy_score(truth, pred)),
        "precision_macro": float(np.nan_to_num(p[keep]).mean()),  # a present class never predicted: 0
        "recall_macro": float(r[keep].mean()),
        "f1_macro": float(np.nan_to_num(f[keep]).mean()),
        "macro_over": present,
        "per_class": {
            c: {
                "precision": None if np.isnan(p[i]) else float(p[i]),
                "recall": float(r[i]) if s[i] else None,
                "f1": float(np.nan_to_num(f[i])) if s[i] else None,
                "support": int(s[i]),
            }
            for i, c in enumerate(classes)
        },
    }


def left_out(preds: pd.DataFrame, classes: list[str]) -> dict:
    """Test rows whose label the model cannot predict (trained on fewer classes than the
    split holds): counted and named, since scoring them would be wrong and dropping them
    silently would make the test set look like something it is not."""
    test = preds[preds["split"] == "test"]
    out = test[~test["label"].isin(classes)]
    return {
        "n": len(out),
        "by_label": {str(k): int(v) for k, v in out["label"].value_counts().sort_index().items()},
        "reason": f"label not among the model's classes {classes}" if len(out) else None,
    }


@dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int = setting(64, ge=1)
    calibration_bins: int = setting(10, ge=2)
    explain: int = setting(6, ge=0)  # occlusion heatmaps for this many correct and this many wrong
    occlusion_patch: float = setting(0.2, gt=0, lt=1)  # side of the grey patch, a share of the face


def headline(metrics: dict) -> dict:
    """The few numbers `dvc metrics show` lists per model (the rest is in report.json):
    accuracy, macro-F1, recall per class, calibration error, and how many test faces were
    left out (labels the model does not predict)."""
    out = {k: metrics[k] for k in ("accuracy", "f1_macro") if k in metrics}
    out["recall"] = {c: m["recall"] for c, m in metrics.get("per_class", {}).items()}
    out["ece"] = metrics.get("calibration", {}).get("ece")
    out["left_out"] = metrics["left_out"]["n"]
    return out


def calibration(correct: pd.Series, confidence: pd.Series, bins: int) -> tuple[dict, pd.DataFrame]:
    """Top-label calibration: in each confidence bin, how often the prediction was right.
    ECE is the bins' |accuracy - confidence| weighted by their share of faces."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "correct": correct.astype(float), "confidence": confidence})
    table = frame.groupby("bin").agg(
        accuracy=("correct", "mean"), confidence=("confidence", "mean"), n=("correct", "size")
    )
    ece = float((table["n"] * (table["accuracy"] - table["confidence"]).abs()).sum() / max(len(frame), 1))
    return {"ece": ece, "bins": bins}, table.reset_index(drop=True)


def evaluate(
    preds: pd.DataFrame, classes: list[str], config: EvaluateConfig | None = None
) -> tuple[dict, dict[str, pd.DataFrame]]:
    """(metrics, tables) on the test split; tables are the confusion rows and the ROC, PR
    and calibration curves `dvc plots` draws, and the misclassified faces, surest first."""
    config = config or EvaluateConfig()
    test = preds[(preds["split"] == "test") & preds["label"].isin(classes)]
    metrics = classification_metrics(test["label"], test["prediction"], classes)
    metrics["left_out"] = left_out(preds, classes)
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
    metrics["per_group"] = {
        column: {
            str(value): classification_metrics(part["label"], part["prediction"], classes)
            for value, part in test.groupby(column)
        }
        for column in GROUP_COLUMNS
        if column in test and test[column].notna().any()
    }
    # a test source with no row in train is a cross-dataset test: the model never saw it
    seen = set(preds.loc[preds["split"] == "train", "source"])
    metrics["cross_dataset"] = {s: m for s, m in metrics["per_source"].items() if s not in seen}
    tables = {
        "confusion": test[["label", "prediction"]]
        .rename(columns={"label": "actual", "prediction": "predicted"})
        .reset_index(drop=True),
        "roc": pd.DataFrame(columns=["fpr", "tpr", "threshold"]),
        "pr": pd.DataFrame(columns=["recall", "precision", "threshold"]),
        "misclassified": test.loc[~test["correct"]]
        .sort_values(["confidence", "id"], ascending=[False, True])
        .loc[:, ["id", "source", "label", "prediction", "confidence"]]
        .reset_index(drop=True),
    }
    if not len(test):
        tables["calibration"] = pd.DataFrame(columns=["accuracy", "confidence", "n"])
        return metrics, tables
    matrix = confusion_matrix(test["label"], test["prediction"], labels=classes)
    metrics["confusion_matrix"] = {"labels": classes, "matrix": matrix.tolist()}
    metrics["calibration"], tables["calibration"] = calibration(
        test["correct"], test["confidence"], config.calibration_bins
    )
    metrics["brier_top_label"] = float(np.mean((test["confidence"] - test["correct"].astype(float)) ** 2))
    positive = Label.MASK.value
    if positive in classes and test["label"].nunique() > 1:
        is_pos = (test["label"] == positive).astype(int)
        score = test[f"prob_{positive}"]
        fpr, tpr, thr = roc_curve(is_pos, score)
        tables["roc"] = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(thr, 1.0)})
        precision, recall, thr = precision_recall_curve(is_pos, score)
        tables["pr"] = pd.DataFrame({"recall": recall, "precision": precision, "threshold": np.r_[thr, 1.0]})
        metrics["roc_auc_mask"] = float(roc_auc_score(is_pos, score))
        metrics["average_precision_mask"] = float(average_precision_score(is_pos, score))
    return metrics, tables
