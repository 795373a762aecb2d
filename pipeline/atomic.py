"""Atomic writes: a stage killed mid-way must never leave a file a rerun would trust, and a
stage that fails (disk full, a bug) must leave the previous good output as it was."""

from __future__ import annotations

import fcntl
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import MasksetError


class BusyError(MasksetError):
    """Another process is writing the same output right now."""


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def _exclusive(lock_file: Path, what: Path) -> Iterator[None]:
    """An advisory lock held for the whole write: a second writer of the same output fails
    at once instead of interleaving files (DVC locks `dvc repro`, this covers stages run by
    hand). The kernel drops it when its holder dies, so a SIGKILL never leaves it stuck."""
    with open(lock_file, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(
                f"another process is writing {what} (it holds {lock_file}); wait for it to finish "
                "or stop it, then run again"
            ) from None
        yield


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory that replaces the directory `path` on success.

    Staging left by a writer that was killed is removed first, so an interrupted run costs
    disk only until the next one starts."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(path.with_name(f".{path.name}.lock"), path):
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        old = path.with_name(f".{path.name}.old")
        if old.exists() and not path.exists():  # killed between the two renames below
            os.replace(old, path)
        shutil.rmtree(old, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
        try:
            yield tmp
            if path.exists():
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _plain(value: Any) -> Any:
    """`value` with numpy scalars and arrays as Python values and every NaN or infinity as
    None: Python's json writes those as `NaN`, which strict parsers (browsers, jq, DVC's
    plots page) refuse, so one missing number would make a whole report unreadable."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_text(data: Any) -> str:
    """Sorted, indented, strictly valid JSON (stable diffs for `dvc metrics`)."""
    return json.dumps(_plain(data), indent=2, sort_keys=True, default=str, allow_nan=False) + "\n"


def write_json(data: Any, path: Path) -> None:
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json_text(data))
