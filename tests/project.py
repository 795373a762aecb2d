"""A copy of this repository to run the real stage scripts and DVC in, away from the
working tree: what the end-to-end and robustness tests share."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from stages.paths import DATA_STAGES
from tests.conftest import ROOT

BIN = Path(sys.executable).parent
ENV = {
    "PATH": f"{BIN}:/usr/bin:/bin",
    "HOME": str(Path.home()),
    "DVC_NO_ANALYTICS": "1",
    "FIFTYONE_DO_NOT_TRACK": "true",
}


def copy_project(dest: Path, **params: dict) -> Path:
    """The tracked and untracked-but-not-ignored files (no built data), `params` merged
    into params.yaml key by key, as a fresh git repository DVC can work in."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file() and not name.startswith(("datasets/raw/", "reports/")):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    (dest / "dvc.lock").unlink(missing_ok=True)
    values = _merged(yaml.safe_load((dest / "params.yaml").read_text()), params)
    (dest / "params.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    sh(dest, "git", "init", "-q")
    sh(dest, "git", "add", "-A")
    sh(dest, "git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy")
    return dest


def _merged(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = _merged(base[key], value) if both else value
    return out


def sh(cwd: Path, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """Run a command of this environment (dvc, python, ...) in `cwd`."""
    cmd = [str(BIN / args[0]), *args[1:]] if (BIN / args[0]).exists() else list(args)
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=ENV | env, timeout=1800)
    if check:
        assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


STAGES = DATA_STAGES


def outputs(repo: Path, stage: str) -> dict[str, dict]:
    """What a data stage wrote: its directory's file digests and its counts."""
    return {
        "data": tree_digest(repo / "datasets" / stage),
        "counts": json.loads((repo / "reports/counts" / f"{stage}.json").read_text()),
    }


def stage_command(*args: str) -> list[str]:
    return [sys.executable, "-m", f"stages.{args[0]}", *args[1:]]


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (links followed) by relative path: two runs
    that wrote the same output compare equal."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leftovers(folder: Path) -> list[str]:
    """Staging directories and partial files pipeline/atomic.py would leave if it failed."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.name.endswith((".tmp", ".old")) and ".git" not in p.parts and ".dvc" not in p.parts
    )


def stop_database(repo: Path) -> None:
    """Stop the copy's own FiftyOne mongod (started by its inspect stage), if it runs."""
    from pipeline.fiftyone_db import stop

    stop(repo / ".fiftyone" / "db")
