"""The compiled schema check (config/schemacheck.py) never accepts what jsonschema rejects, and
accepts the valid declarations it is there to speed up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from reconciler.config.schema import load_schema, schema_problems
from reconciler.config.schemacheck import compile_schema
from reconciler.config.yamlload import load_yaml

VALIDATOR = Draft202012Validator(load_schema())
CHECK = compile_schema(load_schema())

AUDIENCE: dict[str, Any] = {
    "provider": "commbox",
    "name": "VIP",
    "source": "data/vip.csv",
    "columns": {"phone": "Mobile", "first_name": "First"},
}
VALID: dict[str, Any] = {
    "version": 1,
    "defaults": {"phone_region": "US"},
    "providers": {"whop": {"account_id": "biz_1"}, "commbox": {"base_url": "https://x.example"}},
    "audiences": {"vip": AUDIENCE, "b.2": {**AUDIENCE, "provider": "smallest", "description": "d",
                                           "max_shrink": 0.5, "shrink_min_members": 0, "protect": True,
                                           "delimiter": "\t", "encoding": "cp1252"},
                  "q": {**AUDIENCE, "name": "Q", "source": {"query": "select 1", "url_env": "MEMBERS_DB"}}},
}

# Values of every kind a YAML document can hold, JSON's and not (dates, bytes, floats like 1.0).
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.0, 0.5, 1.0, 2.5, float("nan")]),
    st.sampled_from(["", "US", "us", "USA", "commbox", "whop", "smallest", "tab", ",", ";", "\t", "x",
                     "data/a.csv", "https://h.example", "http://", "a" * 300, "-bad", "biz_1"]),
    st.just(dt.date(2024, 1, 2)), st.just(b"\x00"),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from([*AUDIENCE, "phone", "email", "x", "phone_region", "max_shrink",
                                     "protect", "delimiter"]), inner, max_size=4),
), max_leaves=8)
KEYS = ["version", "defaults", "providers", "audiences", "provider", "name", "source", "columns", "phone",
        "first_name", "identifier", "phone_region", "delimiter", "encoding", "sheet", "protect",
        "max_shrink", "shrink_min_members", "description", "account_id", "base_url", "whop", "vip", "query",
        "url_env", "statement_timeout"]


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A valid declaration with a few nodes replaced, removed or added somewhere inside."""
    import copy

    doc: Any = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        node = doc
        while isinstance(node, dict) and node and draw(st.booleans()):
            child = node[draw(st.sampled_from(sorted(node, key=str)))]
            if not isinstance(child, dict):
                break
            node = child
        if not isinstance(node, dict):
            continue
        action = draw(st.sampled_from(["set", "drop", "add"]))
        if action == "drop" and node:
            del node[draw(st.sampled_from(sorted(node, key=str)))]
        else:
            node[draw(st.sampled_from(KEYS))] = draw(VALUES)
    return doc


def test_the_shipped_schema_compiles() -> None:
    assert CHECK is not None


def test_valid_declarations_are_accepted_without_jsonschema() -> None:
    assert CHECK is not None and CHECK(VALID) and CHECK({"version": 1, "audiences": {}})
    assert VALIDATOR.is_valid(VALID)


@given(mutated())
def test_never_accepts_what_jsonschema_rejects(doc: Any) -> None:
    assert CHECK is not None
    if CHECK(doc):
        assert VALIDATOR.is_valid(doc)
    elif VALIDATOR.is_valid(doc):  # conservative only for const/enum of unusual values
        assert not _plain(doc)


def _plain(node: Any) -> bool:
    """True when every value is JSON text, a number other than NaN, a boolean or null."""
    if isinstance(node, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in node.items())
    if isinstance(node, list):
        return all(_plain(v) for v in node)
    if isinstance(node, float):
        return node == node
    return isinstance(node, str | int | bool | type(None))


def test_rejected_documents_are_worded_by_jsonschema() -> None:
    text = "version: 1\naudiences:\n  vip:\n    provider: comm\n    name: V\n    source: a.csv\n"
    doc = load_yaml(text, "a.yaml")
    problems = [p for _, p in schema_problems(doc, "a.yaml")]
    messages = " | ".join(p.message for p in problems)
    assert "not one of: 'commbox', 'whop', 'smallest'" in messages and "missing 'columns'" in messages


def test_unknown_keywords_are_not_compiled() -> None:
    assert compile_schema({"type": "object", "patternProperties": {"^x": {}}}) is None
    assert compile_schema({"$ref": "https://elsewhere.example/s.json"}) is None
    assert compile_schema({"dependentRequired": {"a": ["b"]}}) is None


def test_keyword_semantics_match_jsonschema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1, "exclusiveMaximum": 5},
            "s": {"anyOf": [{"type": "string", "pattern": "^a"}, {"type": "null"}]},
            "l": {"type": "array", "items": {"enum": [1, "x", True]}, "minItems": 1, "maxItems": 2},
            "o": {"oneOf": [{"required": ["a"]}, {"required": ["b"]}], "maxProperties": 2},
            "t": {"not": {"const": 0}, "type": ["number", "boolean"]},
            "c": {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"type": "integer"}},
        },
        "propertyNames": {"maxLength": 1},
        "additionalProperties": False,
    }
    check = compile_schema(schema)
    validator = Draft202012Validator(schema)
    assert check is not None
    cases: list[Any] = [
        {}, {"n": 1}, {"n": 5}, {"n": 1.0}, {"n": True}, {"n": 0}, {"s": "ab"}, {"s": "ba"}, {"s": None},
        {"l": [1]}, {"l": [1, 2]}, {"l": []}, {"l": [True]}, {"l": [1.0]}, {"l": [1, "x", True]},
        {"o": {"a": 1}}, {"o": {"a": 1, "b": 2}}, {"o": {}}, {"t": 0}, {"t": 0.0}, {"t": False}, {"t": 1},
        {"t": "1"}, {"zz": 1}, {"q": 1}, [], "x", {"c": "ab"}, {"c": "a"}, {"c": 3}, {"c": 3.5},
    ]
    for case in cases:
        assert check(case) == validator.is_valid(case), case


def test_declaration_loading_uses_the_compiled_check(tmp_path: Path, monkeypatch: Any) -> None:
    from reconciler.config import schema

    calls: list[int] = []
    monkeypatch.setattr(schema, "_validator", lambda: calls.append(1) or VALIDATOR)
    doc = load_yaml("version: 1\naudiences: {}\n", "a.yaml")
    assert schema_problems(doc, "a.yaml") == [] and calls == []
    bad = load_yaml("version: 2\naudiences: {}\n", "a.yaml")
    assert schema_problems(bad, "a.yaml") and calls == [1]


def test_a_valid_declaration_loads_without_importing_jsonschema(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "audiences.yaml"
    config.write_text("version: 1\naudiences: {}\n")
    code = (
        "import sys; from pathlib import Path; from reconciler.config.load import load_declaration; "
        f"load_declaration(Path({str(config)!r})); print('jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
