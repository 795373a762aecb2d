"""Kaggle credentials stay where the user put them: a whole `dvc repro` from a Kaggle source
(the official client against a fake Kaggle API on 127.0.0.1) writes the key into no
manifest, report, model, DVC file, cache or log."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.fileserver import KAGGLE_KEY, KAGGLE_USER, FakeKaggle, can_bind
from tests.project import copy_project, sh, stop_database

pytestmark = pytest.mark.slow


def faces_archive(faces: list[Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for face in faces:
            zf.writestr(f"data/without_mask/{face.name}", face.read_bytes())
    return buffer.getvalue()


def files_holding(root: Path, secret: bytes, skip: tuple[str, ...]) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.relative_to(root).as_posix().startswith(skip) and secret in p.read_bytes()
    )


def test_a_full_run_from_kaggle_writes_the_key_nowhere(tmp_path, utk_faces):
    if not can_bind(80):
        pytest.skip("cannot listen on 127.0.0.1:80, where the Kaggle client's local endpoint is")
    repo = copy_project(
        tmp_path / "repo",
        sources=["k"],
        models=["simple_cnn"],
        synthesize={"sources": ["k"]},
        train={"models": {"simple_cnn": {"epochs": 1}}},
    )
    catalog = yaml.safe_load((repo / "datasets/sources.yaml").read_text())
    catalog["k"] = catalog["local"] | {"title": "k", "fetch": {"kind": "kaggle", "dataset": "owner/masks"}}
    catalog["k"]["parts"] = [{"path": "data", "layout": "folder_per_class", "faces": "crops"}]
    (repo / "datasets/sources.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    config = tmp_path / "kaggle"  # where a user keeps kaggle.json (KAGGLE_CONFIG_DIR, or ~/.kaggle)
    config.mkdir()
    (config / "kaggle.json").write_text(json.dumps({"username": KAGGLE_USER, "key": KAGGLE_KEY}))
    try:
        with FakeKaggle({"/files/masks.zip": faces_archive(utk_faces[:24])}, port=80) as server:
            run = sh(repo, "dvc", "repro", KAGGLE_API_ENVIRONMENT="LOCALHOST", KAGGLE_CONFIG_DIR=str(config))
    finally:
        stop_database(repo)
    assert any(path.endswith("DownloadDataset") for _, path, _ in server.log)  # it did authenticate
    built = json.loads((repo / "reports/counts/split.json").read_text())
    assert built["rows_out"] > 24  # the faces and their synthetic masks went all the way
    secret = KAGGLE_KEY.encode()
    assert secret not in (run.stdout + run.stderr).encode()
    assert files_holding(repo, secret, skip=(".git/", "tests/")) == []  # all but code and history
