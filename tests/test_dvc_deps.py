"""dvc.yaml's code deps cover every project module a stage script imports, so editing code
reruns exactly the stages that use it (DVC only knows what dvc.yaml lists)."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "stages")


def module_file(name: str) -> Path | None:
    """The file behind a project module name, or None for a name that is not a module."""
    base = ROOT.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def imported_modules(path: Path) -> set[str]:
    """Project modules `path` imports anywhere in its body, lazy imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] in PACKAGES and module_file(name):
                found.add(name)
                parts = name.split(".")  # importing a.b.c runs a/__init__ and a/b/__init__ too
                found.update(".".join(parts[:k]) for k in range(1, len(parts)))
    return found


def import_closure(script: Path) -> set[Path]:
    """Every project file that running `script` can execute, as paths relative to ROOT."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(module_file(m) for m in imported_modules(path))  # type: ignore[misc]
    return {p.relative_to(ROOT) for p in seen}


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
    assert not missing, f"dvc.yaml stage {name} imports code it does not list in deps: {missing}"


def test_the_closure_follows_lazy_and_package_imports(tmp_path):
    closure = import_closure(ROOT / "stages/evaluate.py")
    # evaluate loads models through train.py, which imports svm.py lazily for an SVM
    assert {Path("pipeline/train.py"), Path("pipeline/svm.py"), Path("pipeline/models.py")} <= closure
    assert not covered(Path("pipeline/svm.py"), ["pipeline/train.py", "pipeline/masks"])
    assert covered(Path("pipeline/masks/render.py"), ["pipeline/masks"])
