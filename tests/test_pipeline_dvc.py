"""The whole pipeline through DVC itself, on a shrunken demo, in a copy of the repository."""

import json
import re
import shutil
import time

import pandas as pd
import pytest
import yaml
from dvc_render.html import PAGE_HTML

from pipeline.manifest import read_manifest, read_rejected
from tests import browser
from tests.conftest import ROOT
from tests.project import copy_project, sh, stop_database

pytestmark = pytest.mark.slow
# fine-tuned from the demo's simple_cnn: same input, one epoch at a tenth of the rate
TUNED = {"arch": "simple_cnn", "image_size": 64, "grayscale": True, "epochs": 1, "lr": 0.0001}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    repo = copy_project(
        tmp_path_factory.mktemp("repo"),
        download={"demo": {"lfw_faces": 30}},
        train={"models": {"simple_cnn": {"epochs": 2}, "simple_cnn_tuned": TUNED}},
        init_from={"simple_cnn_tuned": "simple_cnn"},
    )
    params = yaml.safe_load((repo / "params.yaml").read_text())
    try:
        sh(repo, "dvc", "repro")
        yield repo, params
    finally:
        stop_database(repo)


def test_the_fiftyone_dataset_lives_in_the_projects_own_database(built):
    """inspect.dataset_name auto and database_dir .fiftyone/db: this working copy's dataset,
    in its own mongod; the test process's database (another project, in effect) lacks it."""
    import fiftyone as fo

    from pipeline.fiftyone_db import running
    from stages.paths import project_tag

    repo, _ = built
    name = json.loads((repo / "reports/inspect.json").read_text())["dataset"]
    assert name == f"maskset-{project_tag(repo)}"
    state = running(repo / ".fiftyone/db")
    assert state and state["uri"].startswith("mongodb://127.0.0.1:")
    listed = sh(
        repo,
        "python",
        "-c",
        "import fiftyone as fo; print(fo.list_datasets())",
        FIFTYONE_DATABASE_URI=state["uri"],
    )
    assert name in listed.stdout
    assert not fo.dataset_exists(name)
    assert ".fiftyone" not in sh(repo, "git", "status", "--porcelain").stdout  # git-ignored
    assert "mongod pid" in sh(repo, "maskset", "database").stdout


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
    # skin tone is set once, before training: evaluation groups by it (the demo's two colour
    # photos have a tone; its grey LFW faces are unknown with a reason)
    assert final["skin_tone_bin"].notna().all() and (final["skin_tone_bin"] != "unknown").any()
    preds = pd.read_parquet(repo / "reports/evaluate/simple_cnn/predictions.parquet")
    assert preds["skin_tone_bin"].notna().all()
    report = json.loads((repo / "reports/evaluate/simple_cnn/report.json").read_text())
    assert "skin_tone_bin" in report["per_group"]


def test_split_without_its_imagefolder_tree_writes_the_same_manifest(built, tmp_path):
    """split.imagefolder: false, for builds too large for DVC to walk a second tree of faces."""
    repo, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy, symlinks=True, ignore=shutil.ignore_patterns(".git", ".fiftyone", "cache"))
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["split"]["imagefolder"] = False
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.rmtree(copy / "datasets/split")
    sh(copy, "python", "-m", "stages.split")
    written = sorted(p.name for p in (copy / "datasets/split").iterdir())
    assert written == ["manifest.parquet", "rejected.parquet"]
    ours, theirs = (read_manifest(r / "datasets/split/manifest.parquet") for r in (copy, repo))
    pd.testing.assert_frame_equal(ours, theirs)


def _refuse(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def test_every_json_the_build_writes_parses_strictly(built):
    repo, _ = built
    files = [
        p
        for p in repo.rglob("*.json")
        if not {".dvc", ".git", ".venv", "node_modules"} & set(p.relative_to(repo).parts)
    ]
    assert any("explain" in p.parts for p in files) and any(p.parent.name == "simple_cnn" for p in files)
    for path in files:
        json.loads(path.read_text(), parse_constant=_refuse)  # NaN / Infinity raise


def test_dvc_metrics_show_the_kept_epoch_not_the_last(built):
    repo, _ = built
    history = pd.read_csv(repo / "dvclive/train/simple_cnn/plots/metrics/val_f1_macro.tsv", sep="\t")
    summary = json.loads((repo / "dvclive/train/simple_cnn/metrics.json").read_text())
    meta = json.loads((repo / "models/simple_cnn/meta.json").read_text())
    assert summary["kept_epoch"] == meta["best_epoch"] and meta["epochs_run"] == len(history)
    assert summary["val_f1_macro"] == pytest.approx(meta["best_val_f1_macro"])
    assert summary["val_f1_macro"] == pytest.approx(history["val_f1_macro"].max())
    shown = json.loads(sh(repo, "dvc", "metrics", "show", "--json").stdout)
    assert json.dumps(summary["val_f1_macro"]) in json.dumps(shown)


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
    for key in ("accuracy", "f1_macro", "rows_out", "val_f1_macro", "kept_epoch", "ece", "left_out"):
        assert key in text
    plots = json.loads(sh(repo, "dvc", "plots", "show", "--json").stdout)["data"]
    assert any("confusion.csv" in k for k in plots) and any("plots/metrics" in k for k in plots)
    assert "download@demo" in sh(repo, "dvc", "dag").stdout


@pytest.mark.skipif(browser.CHROMIUM is None, reason="Debian chromium not installed (see the README)")
def test_dvc_plots_show_draws_every_chart_with_the_network_off(built, tmp_path):
    """After the README's `npm ci`, every chart of `dvc plots show` draws with no network;
    DVC's own page, loading Vega from its CDN, draws none (so the check can fail)."""
    repo, _ = built
    assert (ROOT / "node_modules").is_dir(), "run `npm ci` (the README's setup) first"
    (repo / "node_modules").symlink_to(ROOT / "node_modules")
    sh(repo, "maskset", "plots-page")
    sh(repo, "dvc", "plots", "show", "-o", str(tmp_path / "ours"))
    page = tmp_path / "ours" / "index.html"
    charts = page.read_text().count("vegaEmbed(")
    assert charts >= 10  # training curves, confusion, ROC, PR, calibration per model
    drawn = lambda dom: len(re.findall(r'<canvas[^>]*class="marks"', dom))  # noqa: E731
    dom = browser.render(page.as_uri(), "dvc_plots.png", ready=lambda d: drawn(d) >= charts, offline=True)
    first = re.search(r'<div id="([^"]+)" class="vega-embed', dom).group(1)
    assert "plots_metrics" in first  # a training curve opens the page, not the contact sheet
    (tmp_path / "dvc.html").write_text(PAGE_HTML)
    cdn = tmp_path / "cdn"
    sh(repo, "dvc", "plots", "show", "-o", str(cdn), "--html-template", str(tmp_path / "dvc.html"))
    assert drawn(browser.dump_dom((cdn / "index.html").as_uri(), offline=True)) == 0


def test_metrics_and_experiments_fit_a_terminal(built):
    """Only headline numbers are DVC metrics (the detail is in reports/<stage>.json and each
    model's report.json), so the everyday views stay readable."""
    repo, _ = built
    shown = sh(repo, "dvc", "metrics", "show").stdout
    assert max(map(len, shown.splitlines())) < 200, max(map(len, shown.splitlines()))
    assert "accuracy" in shown and "rows_out" in shown and "val_f1_macro" in shown
    keep = "Experiment|.*:accuracy|.*:f1_macro"
    exp = sh(repo, "dvc", "exp", "show", "--csv", "--drop", ".*", "--keep", keep).stdout
    header = exp.splitlines()[0].split(",")
    assert "reports/evaluate/simple_cnn/metrics.json:accuracy" in header and len(header) == 7, (
        header
    )  # 3 models


def test_changing_a_param_reruns_only_downstream_stages(built):
    repo, params = built
    params["train"]["models"]["simple_cnn"]["lr"] = 0.002
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = sh(repo, "dvc", "status").stdout
    assert "train@simple_cnn" in status and "ingest" not in status.replace("reports/counts/ingest", "")
    diff = sh(repo, "dvc", "params", "diff").stdout
    assert "train.models.simple_cnn.lr" in diff and "0.001" in diff and "0.002" in diff
    # the model fine-tuned from it is downstream: DVC would retrain it after simple_cnn
    planned = sh(repo, "dvc", "repro", "--dry").stdout
    assert planned.index("'train@simple_cnn'") < planned.index("'finetune@simple_cnn_tuned'")


def test_a_fine_tuned_model_starts_from_its_init_and_is_evaluated_and_audited(built):
    repo, _ = built
    meta = json.loads((repo / "models/simple_cnn_tuned/meta.json").read_text())
    assert meta["details"]["init_from"] == "simple_cnn" and meta["epochs_run"] == 1
    metrics = json.loads((repo / "reports/evaluate/simple_cnn_tuned/metrics.json").read_text())
    assert 0 <= metrics["f1_macro"] <= 1
    audit = json.loads((repo / "reports/audit/audit.json").read_text())
    assert "simple_cnn_tuned" in audit["models"]
    assert "finetune@simple_cnn_tuned" in sh(repo, "dvc", "dag").stdout
