"""The project's own import graph, read with ast: which project files a module runs."""

import ast
from pathlib import Path

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


def imported_modules(path: Path, parents: bool = True) -> set[str]:
    """Project modules `path` imports anywhere in its body, lazy imports included, and with
    `parents` the packages above them (importing a.b.c runs a/__init__ and a/b/__init__)."""
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
                if parents:
                    parts = name.split(".")
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


def code_deps(script: Path) -> list[str]:
    """The code deps a stage running `script` needs in dvc.yaml: every project file it can
    run, a subpackage (pipeline/masks, ...) as one folder, empty package markers left out."""
    deps = set()
    for path in import_closure(script):
        if path.name == "__init__.py" and len(path.parts) == 2:
            continue
        deps.add("/".join(path.parts[:2]) if len(path.parts) > 2 else str(path))
    return sorted(deps)


def rewrite_dvc_deps(dvc_yaml: Path) -> None:
    """Set every stage's code deps in `dvc_yaml` to code_deps of its script, keeping its
    data deps after them: `python -m tests.imports` after adding or moving a module."""
    import re

    import yaml

    text = dvc_yaml.read_text()
    header = text[: text.index("stages:")]
    data = yaml.safe_load(text)
    for stage in data["stages"].values():
        body = stage.get("do", stage)
        module = body["cmd"].split("python -m ", 1)[1].split()[0]
        script = module_file(module)
        assert script is not None, module
        data_deps = [
            d for d in body.get("deps", []) if not str(d).startswith(tuple(f"{p}/" for p in PACKAGES))
        ]
        body["deps"] = code_deps(script) + data_deps
    lines = (header + yaml.safe_dump(data, sort_keys=False, width=110)).split("\n")
    spaced = []
    for i, line in enumerate(lines):  # a blank line between stages, as written by hand
        if re.match(r"^  [a-z_]+:$", line) and not lines[i - 1].startswith("stages:"):
            spaced.append("")
        spaced.append(line)
    dvc_yaml.write_text("\n".join(spaced))


if __name__ == "__main__":
    rewrite_dvc_deps(ROOT / "dvc.yaml")
