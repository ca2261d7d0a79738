"""The layer rules of DESIGN.md section 1, checked on the AST of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QT = {"PySide6", "PyQt5", "PyQt6", "pyqtgraph", "sounddevice", "shiboken6"}
TORCH = {"torch", "torchaudio", "torchvision", "timm", "onnx"}

# package -> top-level modules it must never import
CLI = {"birdlab.cli"}  # the top: nothing below may import the command line
RULES = {
    "birdlab/core": QT | TORCH | CLI | {"onnxruntime", "birdlab.scoring", "birdlab.gui", "training"},
    "birdlab/scoring": QT | TORCH | CLI | {"birdlab.gui", "training"},
    "birdlab/gui": TORCH | CLI | {"training"},
    "training": QT | CLI | {"birdlab.gui"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(package: str, forbidden: set[str], root: Path = ROOT) -> list[str]:
    out = []
    for path in sorted((root / package).rglob("*.py")):
        for name in imported_modules(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(root)} imports {name}")
    return out


@pytest.mark.parametrize("package", sorted(RULES))
def test_layer_rules(package):
    if not (ROOT / package).exists():
        pytest.skip(f"{package} does not exist yet")
    assert violations(package, RULES[package]) == []


def test_the_checker_sees_a_violation(tmp_path):
    """Guard against a checker that can never fail."""
    bad = tmp_path / "birdlab" / "core"
    bad.mkdir(parents=True)
    (bad / "oops.py").write_text("import numpy\nfrom PySide6.QtCore import QObject\n")
    assert violations("birdlab/core", RULES["birdlab/core"], tmp_path) == ["birdlab/core/oops.py imports PySide6.QtCore"]


def test_the_training_modes_build_on_the_loop_and_not_the_other_way():
    """training.loop knows no mode; head_mode and embedding_head import it; training.fit picks one."""
    modes = {"training.head_mode", "training.embedding_head", "training.fit"}
    assert not imported_modules(ROOT / "training" / "loop.py") & modes
    assert not imported_modules(ROOT / "training" / "head_mode.py") & (modes - {"training.head_mode"})
    assert "training.fit" not in imported_modules(ROOT / "training" / "embedding_head.py")
