"""The package rules of DESIGN.md, checked on the source so they cannot drift."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Which app packages each package may import (besides itself). "engines" is top-level.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "hardware": {"core"},
    "catalog": {"core"},
    "downloads": {"core"},
    "planner": {"core", "hardware", "catalog"},
    "runtime": {"core", "hardware", "catalog", "planner", "engines"},
    "gateway": {"core", "runtime", "catalog"},
    "agent": {"core"},
    "cli": {
        "core",
        "hardware",
        "catalog",
        "downloads",
        "planner",
        "runtime",
        "gateway",
        "agent",
        "engines",
    },
    "ui": {
        "core",
        "hardware",
        "catalog",
        "downloads",
        "planner",
        "runtime",
        "gateway",
        "agent",
        "engines",
        "cli",
    },
}
# The CLI may import the UI only to launch it, from this one module.
CLI_GUI_LAUNCHER = "app/cli/gui.py"


def _package_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if rel.parts[0] == "engines":
        return "engines"
    return rel.parts[1].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _target(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "engines":
        return "engines"
    if parts[0] == "app" and len(parts) > 1:
        return parts[1]
    return None


def _sources() -> list[Path]:
    files = sorted((ROOT / "app").rglob("*.py")) + sorted((ROOT / "engines").rglob("*.py"))
    return [f for f in files if f.name != "__init__.py" or f.parent.name != "app"]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_design(path: Path) -> None:
    package = _package_of(path)
    rel = str(path.relative_to(ROOT))
    for module in _imports(path):
        if module.split(".")[0] == "PySide6":
            assert package == "ui", f"{rel} imports PySide6: only app/ui may"
        target = _target(module)
        if target is None or target == package:
            continue
        if package == "engines":
            pytest.fail(f"{rel} imports {module}: engines never import app")
        if target == "ui" and rel == CLI_GUI_LAUNCHER:
            continue
        assert target in ALLOWED[package], f"{rel} ({package}) may not import {module}"


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from app.ui import main\nimport PySide6.QtCore\n")
    targets = [_target(m) for m in _imports(bad)]
    assert "ui" in targets
    assert "ui" not in ALLOWED["planner"]
    assert any(m.startswith("PySide6") for m in _imports(bad))
