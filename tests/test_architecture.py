"""Rules of the package layout, checked on the source: provider knowledge lives in provider
modules only, and no command module imports another (shared code lives in `reconciler.app`)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from reconciler.providers import registry

PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes of a module, its classes and functions."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def string_literals(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal in a module except docstrings (f-string parts included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value


def own_module(path: Path, provider: str) -> bool:
    """A provider's own modules: its module in providers/ and its emulator's in emulator/
    (`<name>.py`, or `<name>_*.py` for an emulator split in parts)."""
    return path.parent.name in ("providers", "emulator") and (
        path.stem == provider or path.stem.startswith(provider + "_")
    )


def test_no_module_outside_a_providers_own_names_it_in_a_string_literal() -> None:
    names = list(registry.builtins())
    assert names == ["commbox", "whop", "smallest"]
    pattern = re.compile(r"(?<![a-z])(" + "|".join(names) + r")(?![a-z])", re.IGNORECASE)
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, text in string_literals(path):
            for match in pattern.finditer(text):
                if not own_module(path, match.group(1).lower()):
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {text!r}")
    assert found == []


def test_the_rule_sees_literals_but_not_docstrings(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('"""Talks to CommBox."""\nX = f"at {1} Whop"\n', encoding="utf-8")
    assert [text for _, text in string_literals(module)] == ["at ", " Whop"]


def test_no_command_module_imports_another() -> None:
    commands = PACKAGE / "commands"
    names = {p.stem for p in commands.glob("*.py")} - {"__init__"}
    found = []
    for path in sorted(commands.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for module in modules:
                parts = module.split(".")
                if parts[:2] == ["reconciler", "commands"] and len(parts) > 2 and parts[2] in names:
                    found.append(f"{path.name}:{node.lineno}: {module}")
    assert found == []
