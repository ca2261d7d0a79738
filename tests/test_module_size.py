"""Modules stay small enough to read in one sitting, or say in their docstring why not (issue 13)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 450
REASON = "Long because:"


def long_modules_without_a_reason(root: Path = ROOT) -> list[str]:
    out = []
    for package in ("birdlab", "training"):
        for path in sorted((root / package).rglob("*.py")):
            text = path.read_text()
            lines = text.count("\n")
            if lines > MAX_LINES and REASON not in (ast.get_docstring(ast.parse(text)) or ""):
                out.append(f"{path.relative_to(root)}: {lines} lines")
    return out


def test_every_long_module_says_why_it_is_long():
    assert long_modules_without_a_reason() == []


def test_the_check_finds_a_long_module_without_a_reason(tmp_path):
    (tmp_path / "birdlab").mkdir()
    (tmp_path / "training").mkdir()
    (tmp_path / "birdlab" / "big.py").write_text('"""Big."""\n' + "x = 1\n" * MAX_LINES)
    (tmp_path / "birdlab" / "ok.py").write_text(f'"""Big.\n\n{REASON} one reason."""\n' + "x = 1\n" * MAX_LINES)
    assert long_modules_without_a_reason(tmp_path) == [f"birdlab/big.py: {MAX_LINES + 1} lines"]
