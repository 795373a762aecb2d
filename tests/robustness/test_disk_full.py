"""A disk that fills while a stage writes: a clean exit 2 that says so, the previous good
output byte for byte as it was, no staging left behind, and a rerun with space that
finishes the job.

Two ways to run out: a real 48 MB tmpfs filled with ballast (in a private mount namespace,
where the machine allows one) and a file-size limit (RLIMIT_FSIZE, which works anywhere
and fails the first write past it with EFBIG)."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys

import pytest

from tests.project import ENV, leftovers, outputs, sh, stage_command

pytestmark = pytest.mark.slow

# Runs as root of a private user + mount namespace: mount a tmpfs, put the project on it,
# fill it up, run the stage, and report back through a file outside the tmpfs.
IN_NAMESPACE = """
import json, shutil, subprocess, sys
from pathlib import Path

repo, mount, report = map(Path, sys.argv[1:4])
stage = sys.argv[4]
mount.mkdir(exist_ok=True)
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], check=True)
work = mount / "project"
shutil.copytree(repo, work, symlinks=True, ignore=shutil.ignore_patterns(".git", ".dvc"))
sys.path.insert(0, str(work))
from tests.project import leftovers, outputs

before = outputs(work, stage)
free = shutil.disk_usage(mount).free
with open(mount / "ballast", "wb") as f:
    f.truncate(0)
    f.write(b"\\0" * (free - 64 * 1024))
full = subprocess.run([sys.executable, "-m", f"stages.{stage}"], cwd=work, capture_output=True, text=True)
after = outputs(work, stage)
left = leftovers(work / "datasets")
(mount / "ballast").unlink()
again = subprocess.run([sys.executable, "-m", f"stages.{stage}"], cwd=work, capture_output=True, text=True)
report.write_text(json.dumps({
    "code": full.returncode, "stderr": full.stderr, "same": before == after, "leftovers": left,
    "rerun": again.returncode, "rerun_same": outputs(work, stage) == before,
}))
"""


def namespaces_allowed() -> bool:
    probe = ["unshare", "--user", "--map-root-user", "--mount", "true"]
    return shutil.which("unshare") is not None and subprocess.run(probe, capture_output=True).returncode == 0


def assert_clean_failure(code: int, stderr: str) -> None:
    assert code == 2, stderr
    assert "out of disk space" in stderr and "previous outputs are unchanged" in stderr, stderr
    assert "Traceback" not in stderr


@pytest.mark.skipif(not namespaces_allowed(), reason="no unprivileged mount namespaces here")
@pytest.mark.parametrize("stage", ["ingest", "synthesize"])
def test_a_full_tmpfs_fails_cleanly_and_keeps_the_previous_output(reference, tmp_path, stage):
    repo, _, _ = reference
    script = tmp_path / "in_namespace.py"
    script.write_text(IN_NAMESPACE)
    report = tmp_path / "report.json"
    namespace = ["unshare", "--user", "--map-root-user", "--mount", sys.executable, str(script)]
    run = subprocess.run(
        [*namespace, str(repo), str(tmp_path / "mnt"), str(report), stage],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(report.read_text())
    assert_clean_failure(result["code"], result["stderr"])
    assert result["same"] and result["leftovers"] == []
    assert result["rerun"] == 0 and result["rerun_same"]


def limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


@pytest.mark.parametrize("stage", ["ingest", "landmarks", "split"])
def test_a_file_size_limit_fails_cleanly_and_keeps_the_previous_output(reference, stage):
    repo, expected, _ = reference
    limited = subprocess.run(
        stage_command(stage), cwd=repo, env=ENV, capture_output=True, text=True, preexec_fn=limit_file_size
    )
    assert_clean_failure(limited.returncode, limited.stderr)
    assert outputs(repo, stage) == expected[stage]
    assert leftovers(repo / "datasets") == []
    sh(repo, "python", "-m", f"stages.{stage}")
    assert outputs(repo, stage) == expected[stage]
