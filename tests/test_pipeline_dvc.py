"""The whole pipeline through DVC itself, on a shrunken demo, in a copy of the repository."""

import json
import time
import uuid

import pytest
import yaml

from pipeline.manifest import read_manifest, read_rejected
from tests.project import copy_project, sh

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    name = f"maskset-e2e-{uuid.uuid4().hex[:8]}"
    repo = copy_project(
        tmp_path_factory.mktemp("repo"),
        download={"demo": {"lfw_faces": 30}},
        train={"models": {"simple_cnn": {"epochs": 2}}},
        inspect={"dataset_name": name},
    )
    params = yaml.safe_load((repo / "params.yaml").read_text())
    sh(repo, "dvc", "repro")
    yield repo, params
    import fiftyone as fo

    if fo.dataset_exists(name):
        fo.delete_dataset(name)


def test_every_stage_ran_and_accounts_for_every_row(built):
    repo, _ = built
    previous = None
    for stage in ("ingest", "dedup", "filter", "landmarks", "synthesize", "split"):
        counts = json.loads((repo / "reports/counts" / f"{stage}.json").read_text())
        kept = read_manifest(repo / "datasets" / stage / "manifest.parquet")
        rejected = read_rejected(repo / "datasets" / stage / "rejected.parquet")
        assert counts["rows_out"] == len(kept) and counts["rejected"] == len(rejected)
        if previous is not None and stage != "synthesize":
            assert len(previous) == len(kept) + len(rejected)
        previous = kept
    for stage in ("dedup", "filter"):
        report = json.loads((repo / "reports" / f"{stage}.json").read_text())
        assert report["rows_out"] == len(read_manifest(repo / "datasets" / stage / "manifest.parquet"))
    final = read_manifest(repo / "datasets/split/manifest.parquet")
    assert set(final["label"]) == {"mask", "no_mask"} and final["split"].notna().all()
    assert (repo / "datasets/split/imagefolder/train/mask").is_dir()
    split = json.loads((repo / "reports/split.json").read_text())
    assert all(v == 0 for v in split["leakage"].values())
    assert (repo / "reports/audit/index.html").stat().st_size > 1000
    datasheet = (repo / "reports/DATASHEET.md").read_text()
    assert f"{len(final)} face images" in datasheet and "## Uses" in datasheet
    assert json.loads((repo / "reports/inspect.json").read_text())["samples"] == len(final)


def test_second_repro_does_nothing_quickly(built):
    repo, _ = built
    started = time.time()
    out = sh(repo, "dvc", "repro").stdout
    assert "Running stage" not in out
    assert time.time() - started < 30
    status = sh(repo, "dvc", "status").stdout
    assert "up to date" in status.lower() or status.strip() == ""


def test_metrics_params_and_plots_show_real_content(built):
    repo, _ = built
    metrics = json.loads(sh(repo, "dvc", "metrics", "show", "--json").stdout)
    text = json.dumps(metrics)
    for key in ("accuracy", "f1_macro", "rows_out", "val_loss", "groups_crossing_splits"):
        assert key in text
    plots = json.loads(sh(repo, "dvc", "plots", "show", "--json").stdout)["data"]
    assert any("confusion.csv" in k for k in plots) and any("plots/metrics" in k for k in plots)
    assert "download@demo" in sh(repo, "dvc", "dag").stdout


def test_changing_a_param_reruns_only_downstream_stages(built):
    repo, params = built
    params["train"]["models"]["simple_cnn"]["lr"] = 0.002
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = sh(repo, "dvc", "status").stdout
    assert "train@simple_cnn" in status and "ingest" not in status.replace("reports/counts/ingest", "")
    diff = sh(repo, "dvc", "params", "diff").stdout
    assert "train.models.simple_cnn.lr" in diff and "0.001" in diff and "0.002" in diff
