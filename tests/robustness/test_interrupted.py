"""Interrupted and concurrent runs: a stage SIGKILLed at random points leaves either its
previous output or none, never a partial one, and its rerun writes exactly what an
uninterrupted run writes; a killed download resumes; two writers at once corrupt nothing."""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT
from tests.fileserver import FileServer
from tests.project import BIN, ENV, STAGES, copy_project, leftovers, outputs, sh, stage_command, tree_digest

pytestmark = pytest.mark.slow
KILLED = ("ingest", "landmarks", "synthesize", "split")  # the slow ones and every file writer


def start(repo: Path, *args: str) -> subprocess.Popen:
    """In its own process group, so a kill takes the worker processes too (as the OOM
    killer or a lost machine would)."""
    return subprocess.Popen(
        stage_command(*args),
        cwd=repo,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.parametrize("stage", KILLED)
def test_a_stage_killed_at_random_points_then_rerun_writes_the_uninterrupted_output(reference, stage):
    repo, expected, seconds = reference
    out = repo / "datasets" / stage
    rng = np.random.default_rng(sum(map(ord, stage)))
    shutil.rmtree(out)  # as `dvc repro` does before it runs a stage
    for delay in rng.uniform(0.2, 1.0, size=3) * seconds[stage]:
        process = start(repo, stage)
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        # never a partial output: none at all, or the complete one
        assert not out.exists() or tree_digest(out) == expected[stage]["data"], f"killed at {delay:.2f}s"
    sh(repo, "python", "-m", f"stages.{stage}")
    assert outputs(repo, stage) == expected[stage]
    assert leftovers(repo / "datasets") == []


def test_a_second_writer_of_the_same_output_fails_fast_and_leaves_it_alone(reference):
    """The other writer is this test, holding the lock a running stage holds."""
    repo, expected, _ = reference
    with open(repo / "datasets/.ingest.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        second = sh(repo, "python", "-m", "stages.ingest", check=False)
    assert second.returncode == 2 and "another process is writing datasets/ingest" in second.stderr
    assert "Traceback" not in second.stderr
    assert outputs(repo, "ingest") == expected["ingest"]
    assert leftovers(repo / "datasets") == []


def test_two_dvc_repro_at_once_leave_a_consistent_pipeline(reference, tmp_path):
    _, expected, _ = reference
    repo = copy_project(tmp_path, download={"demo": {"lfw_faces": 30}})
    runs = [
        subprocess.Popen(
            [str(BIN / "dvc"), "repro", "split"],
            cwd=repo,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    logs = [run.communicate(timeout=900)[0] for run in runs]
    codes = [run.returncode for run in runs]
    assert 0 in codes, logs
    for code, log in zip(codes, logs, strict=True):
        # DVC's repo lock or its read-write lock on the outputs turned the other run away
        assert code == 0 or "Unable to acquire lock" in log or "is busy, it is being blocked by" in log, log
    status = sh(repo, "dvc", "status", "split").stdout
    assert "up to date" in status.lower() or not status.strip(), status
    for stage in STAGES:
        assert outputs(repo, stage) == expected[stage], stage
    assert leftovers(repo / "datasets") == []


def slow_archive(rng: np.random.Generator) -> bytes:
    """1.5 MB (stored, so it stays that size) holding one real face and some padding."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        face = next((ROOT.parent / "shared/data/utkface-sample").glob("*.jpg"), None)
        zf.writestr("data/without_mask/face.jpg", face.read_bytes() if face else b"not a face")
        zf.writestr("data/padding.bin", rng.bytes(1_500_000))
    return buffer.getvalue()


def test_a_killed_download_resumes_where_it_stopped(tmp_path):
    archive = slow_archive(np.random.default_rng(0))
    with FileServer({"/masks.zip": archive}) as server:
        repo = copy_project(tmp_path, sources=["h"])
        catalog = yaml.safe_load((repo / "datasets/sources.yaml").read_text())
        catalog["h"] = {
            "title": "a slow mirror",
            "licence": "CC0",
            "citation": "none",
            "fetch": {"kind": "http", "files": [{"name": "masks.zip", "url": server.url("/masks.zip")}]},
            "label_map": {"without_mask": "no_mask"},
            "parts": [{"path": "data", "layout": "folder_per_class", "faces": "crops"}],
        }
        (repo / "datasets/sources.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
        server.faults.stall_after["/masks.zip"] = 700_000
        part = repo / "datasets/downloads/h/masks.zip.part"
        process = start(repo, "download", "h")
        deadline = time.monotonic() + 60
        while (not part.exists() or part.stat().st_size < 2 * 2**18) and time.monotonic() < deadline:
            time.sleep(0.1)
        kept = part.stat().st_size
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        assert not (repo / "datasets/raw/h").exists()
        sh(repo, "python", "-m", "stages.download", "h")
    ranges = [headers.get("Range") for _, path, headers in server.log if path == "/masks.zip"]
    assert ranges == [None, f"bytes={kept}-"]
    assert (repo / "datasets/raw/h/data/padding.bin").stat().st_size == 1_500_000
    pin = yaml.safe_load((repo / "datasets/sources.lock").read_text())["h"]["masks.zip"]
    assert pin["size"] == len(archive)
