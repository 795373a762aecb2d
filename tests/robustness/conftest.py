"""The robustness suite's shared project: the demo downloaded and every data stage run
once, uninterrupted, as the reference each abuse is compared with."""

from __future__ import annotations

import time

import pytest

from tests.project import STAGES, copy_project, outputs, sh


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The demo downloaded and every data stage run once, uninterrupted: each stage's
    output digest and how long it took."""
    repo = copy_project(tmp_path_factory.mktemp("reference"), download={"demo": {"lfw_faces": 30}})
    sh(repo, "python", "-m", "stages.download", "demo")
    expected, seconds = {}, {}
    for stage in STAGES:
        started = time.monotonic()
        sh(repo, "python", "-m", f"stages.{stage}")
        seconds[stage] = time.monotonic() - started
        expected[stage] = outputs(repo, stage)
    return repo, expected, seconds
