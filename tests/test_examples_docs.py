"""docs/operations.md and the example workflows only mention commands and flags that exist, and the
docs explain every drift finding the tool can report."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from reconciler.cli import build_parser
from reconciler.planning import drift

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "operations.md"
COMMAND = re.compile(r"reconciler ((?:[a-z][\w-]*)(?: +(?:--?[\w-]+|[A-Z][\w]*|[a-z0-9][\w.-]*(?![>&])))*)")
PLACEHOLDERS = {
    "KEY": "vip",
    "ID": "312345",
    "OLD": "a",
    "NEW": "b",
    "LOCK_ID": "x",
    "PLANFILE": "p.json",
    "DIR": "state",
    "N": "2",
    "FILE": "plan.json",
}


def _mentions() -> list[str]:
    texts = [DOCS.read_text()]
    for path in [*sorted((REPO / "examples").rglob("*.y*ml")), REPO / ".pre-commit-hooks.yaml"]:
        texts.append(path.read_text())
    found: list[str] = []
    for text in texts:
        for block in re.findall(r"`([^`\n]+)`|^\s*(?:run: )?(reconciler .+)$", text, re.M):
            for snippet in block:
                found += [m.group(1) for m in COMMAND.finditer(snippet)]
    return sorted(set(found))


def _argv(mention: str) -> list[str]:
    words = shlex.split(mention.split(">")[0].split("|")[0].split("#")[0])
    return [PLACEHOLDERS.get(w.rstrip(".,"), w.rstrip(".,")) for w in words]


def _params() -> list[str]:
    return _mentions()


@pytest.mark.parametrize("mention", _params())
def test_every_mentioned_command_parses(mention: str) -> None:
    argv = _argv(mention)
    if argv[0] not in {
        "validate",
        "plan",
        "apply",
        "show",
        "refresh",
        "import",
        "state",
        "force-unlock",
        "emulate",
        "schema",
    }:
        pytest.fail(f"unknown command in docs: reconciler {mention}")
    if argv[0] == "state" and len(argv) == 1:
        return  # the command group as such, e.g. "`reconciler state list`" is checked separately
    if argv[0] == "show" and len(argv) == 1:
        argv.append("plan.json")
    if argv[0] == "force-unlock" and len(argv) == 1:
        argv.append("lock-id")
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`reconciler {mention}` does not parse (exit {exc.code})")


def test_mentions_were_found() -> None:
    mentions = _mentions()
    for expected in ("refresh --write", "import vip-customers 312345", "force-unlock LOCK_ID"):
        assert any(m.startswith(expected) for m in mentions), expected


def test_every_drift_kind_is_documented() -> None:
    text = DOCS.read_text()
    kinds = [v for k, v in vars(drift).items() if k.isupper() and isinstance(v, str) and "_" in v]
    assert len(kinds) == 7
    for kind in kinds:
        assert f"`{kind}`" in text, kind


def test_exit_codes_table_matches_the_cli() -> None:
    text = DOCS.read_text()
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert code in text
    assert yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())[0]["entry"] in text.replace("`", "")
