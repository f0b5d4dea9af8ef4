"""Imports point down only (DESIGN.md's layers); Django faces never import each other."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "django_tasks"

#: Layer of each top-level module or subpackage, lowest first.
LAYERS = {
    # messages: values, wire format, names, settings (ratelimit is a leaf: parsing and math)
    "message": 0,
    "serialization": 0,
    "states": 0,
    "exceptions": 0,
    "signals": 0,
    "conf": 0,
    "ratelimit": 0,
    # broker / store: the only SQL
    "models": 1,
    "broker": 1,
    "migrations": 1,
    # public API
    "__init__": 2,
    "app": 2,
    "task": 2,
    "request": 2,
    "trace": 2,
    "canvas": 2,
    "result": 2,
    "log": 2,
    "tasks": 2,
    # worker
    "worker": 3,
    # Django faces and wiring
    "admin": 4,
    "management": 4,
    "backends": 4,
    "checks": 4,
    "apps": 4,
}
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
        if other in LAYERS and LAYERS[other] > LAYERS[unit]
    )
    sideways = sorted(
        f"{unit} imports {other}"
        for other in _imports(path) - {unit}
        if unit in FACES and other in FACES
    )
    assert not upward + sideways
