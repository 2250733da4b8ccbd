"""The folder tree is the architecture: imports point one way, Qt and torch stay in their rooms, no circles.

    screensight (entry point) -> ui -> assistant -> models -> base;  benchmark -> assistant, models, base

Every import counts, also the lazy ones inside functions: a lazy import pointing up is still a
dependency pointing up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("base", "models", "assistant", "ui", "benchmark", "screensight")
# What each package may import of the project's own packages (itself always).
ALLOWED = {
    "base": set(),
    "models": {"base"},
    "assistant": {"models", "base"},
    "ui": {"assistant", "models", "base"},
    "benchmark": {"assistant", "models", "base"},
    "screensight": {"ui", "assistant", "models", "base", "benchmark"},
}
QT = ("PySide6", "shiboken6")
MODEL_RUNTIMES = ("torch", "transformers", "onnxruntime", "openvino", "safetensors", "tokenizers")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(path: Path, module: str, top_level_only: bool = False) -> set[str]:
    """Every module `path` imports (absolute names), optionally only those run at import time."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # imports under `if`/`try` at module level run at import time too
        nodes = [n for stmt in tree.body for n in ast.walk(stmt)
                 if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
        nodes = [n for n in nodes if not _under_type_checking(tree, n)]
    names = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


def _under_type_checking(tree: ast.Module, target: ast.AST) -> bool:
    for stmt in tree.body:
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
            if any(node is target for node in ast.walk(stmt)):
                return True
    return False


MODULES = _modules()


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module):
    package = _top(module)
    wrong = sorted(name for name in _imports(MODULES[module], module)
                   if _top(name) in PACKAGES and _top(name) != package and _top(name) not in ALLOWED[package])
    assert not wrong, f"{module} ({package}) may import only {sorted(ALLOWED[package])}; it imports {wrong}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_qt_only_in_ui_and_model_runtimes_only_in_models(module):
    package = _top(module)
    imported = {_top(name) for name in _imports(MODULES[module], module)}
    if package != "ui":
        assert not imported & set(QT), f"{module} imports Qt; only ui/ may"
    if package not in ("models", "benchmark"):
        runtimes = imported & set(MODEL_RUNTIMES)
        assert not runtimes, f"{module} imports {sorted(runtimes)}; only models/ (and the benchmark) may"


def test_every_ui_module_uses_qt():
    """Code without Qt does not live in ui/ (it belongs to the package that owns it)."""
    without = [module for module, path in MODULES.items()
               if _top(module) == "ui" and module != "ui"
               and not any(_top(name) in QT or (_top(name) == "ui" and name != "ui")
                           for name in _imports(path, module))]
    assert not without, f"ui modules without Qt: {without}"


def test_no_import_circles_at_import_time():
    graph = {}
    for module, path in MODULES.items():
        targets = set()
        for name in _imports(path, module, top_level_only=True):
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):
                targets.add(name)
        graph[module] = targets
    circles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_the_checker_sees_a_wrong_import(tmp_path):
    """The layer check itself: an upward import written into a models module is found."""
    path = tmp_path / "probe.py"
    path.write_text("def f():\n    from ui.app import main\n", encoding="utf-8")
    assert "ui.app" in _imports(path, "models.probe")
