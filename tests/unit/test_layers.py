"""Imports point down only (DESIGN.md's layers); Django faces never import each other."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "django_tasks"

#: Layer of each top-level module or subpackage, lowest first. A unit may import only units
#: of lower layers: the public API is split into sub-layers, so no two of its modules can
#: import each other (imports inside functions count too).
LAYERS = {
    # values, names and the wire format (leaves first)
    "states": 0,
    "exceptions": 0,
    "ratelimit": 0,
    "hints": 0,
    "bootsteps": 0,
    "signals": 1,
    "conf": 1,
    "serialization": 1,
    "request": 1,
    "message": 2,
    # the option vocabulary and the registry of names
    "options": 3,
    "registry": 3,
    "log": 3,
    # broker / store: the only SQL
    "models": 4,
    "migrations": 4,
    "broker": 4,
    # routes: settings -> a message's queue (above the options, below the write path)
    "routing": 5,
    # periodic schedules (crontab, intervals): they read the time zone setting only
    "schedules": 5,
    # public API, bottom up: results, the one write path, tracing, eager runs, canvas, Task
    "result": 6,
    "sending": 7,
    "trace": 8,
    "eager": 9,
    "canvas": 10,
    "task": 11,
    "app": 12,
    "__init__": 13,
    "tasks": 13,
    # worker
    "worker": 14,
    # Django faces, then the wiring that loads them
    "admin": 15,
    "management": 15,
    "backends": 15,
    "checks": 16,
    "apps": 17,
}
#: The store's units share one layer: the models use the broker's state predicates, the
#: broker uses the models (the module-cycle test below still guards them).
STORE = {"models", "broker", "migrations"}
FACES = {"admin", "management", "backends"}


def _unit(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> set[str]:
    """The django_tasks units a module imports (absolute or relative, at any depth)."""
    tree = ast.parse(path.read_text())
    depth = len(path.relative_to(PACKAGE).parts) - 1
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(path.relative_to(PACKAGE).parts[:depth])
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                parts = base + (node.module.split(".") if node.module else [])
                if parts:
                    found.add(parts[0])
                else:  # "from . import x" at the package root
                    found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("django_tasks"):
                parts = node.module.split(".")
                found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "django_tasks":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_only(path):
    unit = _unit(path)
    assert unit in LAYERS, f"{unit} has no layer in this test: add it"
    upward = sorted(
        f"{unit} (layer {LAYERS[unit]}) imports {other} (layer {LAYERS[other]})"
        for other in _imports(path) - {unit}
        if other in LAYERS
        and unit not in FACES
        and (LAYERS[other] > LAYERS[unit] or (LAYERS[other] == LAYERS[unit] and unit not in STORE))
    )
    sideways = sorted(
        f"{unit} imports {other}"
        for other in _imports(path) - {unit}
        if unit in FACES and other in FACES
    )
    assert not upward + sideways


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["django_tasks", *parts])


def _module_imports(path: Path, known: set[str]) -> set[str]:
    """The django_tasks modules `path` imports, at top level or inside functions."""
    tree = ast.parse(path.read_text())
    package = (
        _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    )
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from . import conf" imports the submodule, not (again) the package
            head = [target] if node.module else []
            candidates = head + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        for name in candidates:
            if name in known:
                found.add(name)
    return found


def test_no_module_imports_a_module_that_imports_it_back():
    paths = {_module_name(p): p for p in MODULES}
    known = set(paths)
    graph = {name: _module_imports(path, known) - {name} for name, path in paths.items()}
    cycles = []

    def visit(name: str, stack: list[str], on_stack: set[str], done: set[str]) -> None:
        on_stack.add(name)
        stack.append(name)
        for other in sorted(graph[name]):
            if other in on_stack:
                cycles.append(" -> ".join(stack[stack.index(other) :] + [other]))
            elif other not in done:
                visit(other, stack, on_stack, done)
        stack.pop()
        on_stack.discard(name)
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [], set(), done)
    assert not cycles
