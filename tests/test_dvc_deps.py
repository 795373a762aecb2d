"""dvc.yaml's code deps cover every project module a stage script imports, so editing code
reruns exactly the stages that use it (DVC only knows what dvc.yaml lists)."""

import ast
from pathlib import Path

import pytest
import yaml

from tests.imports import ROOT, import_closure, module_file


def stage_scripts() -> list[tuple[str, Path, list[str]]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    out = []
    for name, stage in stages.items():
        body = stage.get("do", stage)
        module = body["cmd"].split("python -m ", 1)[1].split()[0]
        deps = [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])]
        out.append((name, module_file(module), deps))
    return out


def covered(file: Path, deps: list[str]) -> bool:
    return any(file == Path(d) or Path(d) in file.parents for d in deps)


@pytest.mark.parametrize("name,script,deps", stage_scripts(), ids=[s[0] for s in stage_scripts()])
def test_stage_deps_cover_the_code_it_imports(name, script, deps):
    empty_inits = {
        p
        for p in import_closure(script)
        if p.name == "__init__.py" and not ast.parse((ROOT / p).read_text()).body[1:]
    }
    missing = sorted(str(p) for p in import_closure(script) - empty_inits if not covered(p, deps))
    assert not missing, (
        f"dvc.yaml stage {name} imports code it does not list in deps: {missing} "
        "(`python -m tests.imports` rewrites the code deps of every stage)"
    )


def test_the_closure_follows_lazy_and_package_imports(tmp_path):
    closure = import_closure(ROOT / "stages/evaluate.py")
    # evaluate loads models through train.py, which imports svm.py lazily for an SVM
    assert {Path("pipeline/train.py"), Path("pipeline/svm.py"), Path("pipeline/models.py")} <= closure
    assert not covered(Path("pipeline/svm.py"), ["pipeline/train.py", "pipeline/masks"])
    assert covered(Path("pipeline/masks/render.py"), ["pipeline/masks"])


def test_the_data_stages_run_in_the_order_stages_paths_declares():
    """stages/paths.py's DATA_STAGES is the one stage list: dvc.yaml's data stages, in order,
    each reading the previous one's manifest."""
    from stages.paths import DATA_STAGES, manifest_of, previous_stage

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert [s for s in stages if s in DATA_STAGES] == list(DATA_STAGES)
    for stage in DATA_STAGES[1:]:
        assert str(manifest_of(previous_stage(stage))) in stages[stage]["deps"], stage
