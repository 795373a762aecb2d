"""params.yaml is written the way `dvc exp run -S` writes YAML back, so an experiment's
override changes the value it names and no other line (no reflowed lists, no lost comments)."""

import difflib
import shutil

import pytest
import yaml
from dvc.utils.hydra import apply_overrides

from tests.conftest import ROOT

OVERRIDES = [
    ("train.models.simple_cnn.lr=0.01", ["train", "models", "simple_cnn", "lr"], 0.01),
    ("split.ratios.train=0.7", ["split", "ratios", "train"], 0.7),
    ("synthesize.fraction=0.3", ["synthesize", "fraction"], 0.3),
    ("models=[resnet18]", ["models"], ["resnet18"]),
    ("sources=[demo,local]", ["sources"], ["demo", "local"]),
    ("filter.checks=[min_size]", ["filter", "checks"], ["min_size"]),
    ("train.models.svm.svm.C=[1,2]", ["train", "models", "svm", "svm", "C"], [1, 2]),
]


def lines_of(value: object) -> int:
    """How many lines a value takes in block style: one per list item, else one."""
    return len(value) if isinstance(value, list) else 1


@pytest.mark.parametrize(("override", "path", "value"), OVERRIDES, ids=[o[0] for o in OVERRIDES])
def test_an_experiment_override_changes_only_its_own_lines(tmp_path, override, path, value):
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    before = params.read_text().splitlines()
    apply_overrides(str(params), [override])  # what `dvc exp run -S` does to the file
    after = params.read_text().splitlines()
    changed = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    old_value = yaml.safe_load("\n".join(before))
    for key in path[:-1]:
        old_value = old_value[key]
    old_value = old_value[path[-1]]
    assert len(changed) <= lines_of(old_value) + lines_of(value), changed
    assert not any(line[1:].lstrip().startswith("#") for line in changed), changed  # no comment lost
    expected = yaml.safe_load("\n".join(before))
    node = expected
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert yaml.safe_load("\n".join(after)) == expected
