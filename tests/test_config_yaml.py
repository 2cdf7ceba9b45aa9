"""YAML with locations (config.yamlload): marks, duplicate keys, booleans, merges, hostile input."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.config.yamlload import MAX_NODES, Mark, decode, load_yaml
from reconciler.errors import ConfigError


def test_every_node_and_key_has_its_line_and_column() -> None:
    text = "version: 1\naudiences:\n  vip:\n    columns: {phone: Mobile}\n    tags: [a, b]\n"
    doc = load_yaml(text, "f.yaml")
    assert doc.keys[("audiences", "vip")] == Mark(3, 3)
    assert doc.values[("audiences", "vip", "columns")] == Mark(4, 14)
    assert doc.keys[("audiences", "vip", "columns", "phone")] == Mark(4, 15)
    assert doc.values[("audiences", "vip", "columns", "phone")] == Mark(4, 22)
    assert doc.values[("audiences", "vip", "tags", 1)] == Mark(5, 15)


def test_where_falls_back_to_the_nearest_written_ancestor() -> None:
    doc = load_yaml("a:\n  b: 1\n", "f.yaml")
    assert doc.where(("a", "missing", "deeper")) == doc.values[("a",)]
    assert load_yaml("", "f.yaml").where(("x",)) == Mark(1, 1)


def test_duplicate_keys_are_problems_naming_both_places() -> None:
    doc = load_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert doc.data == {"a": 1, "b": 2}  # the first one is kept, the second reported
    [problem] = doc.problems
    assert (problem.line, problem.col) == (3, 1)
    assert "duplicate key 'a'" in problem.message and "1:1" in problem.message


def test_only_true_and_false_are_booleans_so_region_codes_stay_text() -> None:
    doc = load_yaml("a: NO\nb: yes\nc: on\nd: true\ne: False\n", "f.yaml")
    assert doc.data == {"a": "NO", "b": "yes", "c": "on", "d": True, "e": False}


def test_keys_are_the_text_as_written() -> None:
    doc = load_yaml("2024: a\nno: b\nnull: c\n1.5: d\n", "f.yaml")
    assert list(doc.data) == ["2024", "no", "null", "1.5"]


def test_quoted_scalars_are_not_marked_plain() -> None:
    doc = load_yaml("a: 2024-01-01\nb: '2024-01-01'\n", "f.yaml")
    assert ("a",) in doc.plain and ("b",) not in doc.plain
    assert doc.data["b"] == "2024-01-01"


def test_merge_keys_apply_and_explicit_keys_win() -> None:
    text = "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n"
    doc = load_yaml(text, "f.yaml")
    assert doc.data["other"] == {"x": 1, "y": 3}
    assert doc.values[("other", "x")] == Mark(1, 14)  # where x's value was written (the anchor)
    assert doc.values[("other", "y")] == Mark(4, 6)
    assert doc.values[("other",)] == Mark(3, 3)


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ("a: [1, 2\n", 2, 1),
        ("a: b: c\n", 1, 5),
        ("a: 1\n\tb: 2\n", 2, 1),
        ("a: 1\n---\nb: 2\n", 2, 1),
        ("x: 1\ny: \x07\n", 2, 4),
    ],
)
def test_syntax_errors_name_line_and_column(text: str, line: int, col: int) -> None:
    with pytest.raises(ConfigError) as caught:
        load_yaml(text, "f.yaml")
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.col) == ("f.yaml", line, col)


def test_invalid_utf8_names_the_line() -> None:
    with pytest.raises(ConfigError) as caught:
        decode(b"a: 1\nb: \xff\n", "f.yaml")
    [problem] = caught.value.problems
    assert (problem.line, problem.col) == (2, 4)
    assert decode(b"\xef\xbb\xbfa: 1", "f.yaml") == "a: 1"  # a BOM is fine


def test_unknown_tags_and_bad_scalars_are_problems_not_crashes() -> None:
    doc = load_yaml("a: !foo 1\nb: !!python/object:os.system x\nc: !!binary xx\nd: !bar [1]\n", "f.yaml")
    assert [p.line for p in doc.problems] == [1, 2, 3, 4]


def test_non_text_keys_are_problems() -> None:
    doc = load_yaml("? [a, b]\n: 1\n", "f.yaml")
    assert doc.problems and "key must be plain text" in doc.problems[0].message


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match="nested more than"):
        load_yaml("a: &a [*a]\n", "f.yaml")


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 10)]
    with pytest.raises(ConfigError, match=f"{MAX_NODES:,} nodes"):
        load_yaml("\n".join(lines) + "\n", "f.yaml")


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(ConfigError):
        load_yaml("[" * 10_000, "f.yaml")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_only_ever_raises_config_error(text: str) -> None:
    try:
        doc = load_yaml(text, "f.yaml")
    except ConfigError as exc:
        assert exc.problems and all(p.line >= 1 and p.col >= 1 for p in exc.problems)
    else:
        assert all(p.line >= 1 for p in doc.problems)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
_trees = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(_trees)
def test_round_trip_of_plain_documents(tree: object) -> None:
    """Whatever safe_dump writes, load_yaml reads back the same (keys as text) with no problems."""
    text = yaml.safe_dump({"root": tree})
    doc = load_yaml(text, "f.yaml")
    assert doc.problems == []
    assert doc.data == _keys_as_text(yaml.safe_load(text))


def _keys_as_text(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _keys_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keys_as_text(v) for v in value]
    return value
