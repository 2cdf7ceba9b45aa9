"""The declaration's JSON Schema (composed from the registered providers) and its errors as
located problems.

Each jsonschema error is turned into one `Problem` per offending node, pointing at the key or
value the user wrote, with a message that says what to do rather than what the validator saw.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from reconciler.config.compose import compose_schema, schema_json
from reconciler.config.schemacheck import Check, compile_schema
from reconciler.config.yamlload import Mark, PathKey, YamlDocument
from reconciler.errors import Problem

if TYPE_CHECKING:  # jsonschema is imported only to word the errors of an invalid document
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_RESOURCE = ("schema", "audiences.schema.json")

_TYPE_PHRASES = {
    "object": "a mapping (key: value lines)",
    "array": "a list",
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "empty",
}


def shipped_schema_text() -> str:
    """The JSON Schema shipped in the package for editors (the composition for the built-ins)."""
    return resources.files("reconciler").joinpath(*SCHEMA_RESOURCE).read_text(encoding="utf-8")


def schema_text() -> str:
    """The JSON Schema of audiences.yaml for the providers registered now (plugins included)."""
    return schema_json(load_schema())


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) composed from the registered providers."""
    from reconciler.providers import registry

    return _composed(registry.generation())


@cache
def _composed(generation: int) -> dict[str, Any]:
    from reconciler.providers import registry

    return compose_schema(registry.providers())


def _validator() -> Draft202012Validator:
    """The jsonschema validator of the schema, built once per registry (it words the errors)."""
    from reconciler.providers import registry

    return _validator_of(registry.generation())


@cache
def _validator_of(generation: int) -> Draft202012Validator:
    from jsonschema import Draft202012Validator  # ~0.15 s to import: only for invalid documents

    return Draft202012Validator(_composed(generation))


def _fast_check() -> Check | None:
    """The schema compiled once per registry into plain Python checks (schemacheck); None if it
    cannot be."""
    from reconciler.providers import registry

    return _fast_check_of(registry.generation())


@cache
def _fast_check_of(generation: int) -> Check | None:
    return compile_schema(_composed(generation))


def schema_problems(doc: YamlDocument, file: str) -> list[tuple[PathKey, Problem]]:
    """Every schema violation in `doc`, as (path of the offending node, located problem).

    A document the compiled check accepts is valid; any other goes through jsonschema."""
    check = _fast_check()
    if check is not None and check(doc.data):
        return []
    validator = _validator()
    found: list[tuple[PathKey, Problem]] = []
    for error in validator.iter_errors(doc.data):
        for path, mark, message in _explain(error, doc):
            found.append((path, Problem(file, mark.line, mark.col, message)))
    return found


def _explain(error: ValidationError, doc: YamlDocument) -> Iterator[tuple[PathKey, Mark, str]]:
    """(path, where, message) for one jsonschema error; some errors name several nodes."""
    path: PathKey = tuple(error.absolute_path)
    name = _name(path)
    kind = error.validator
    value = error.validator_value
    schema = error.schema if isinstance(error.schema, dict) else {}
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        for key in error.instance:
            if key not in allowed:
                hint = _did_you_mean(str(key), allowed)
                where = f"in {name}" if path else "at the top level"
                message = f"unknown key '{key}' {where}{hint}; allowed keys: {', '.join(allowed)}"
                yield (*path, key), doc.key_where((*path, key)), message
    elif kind == "required" and isinstance(error.instance, dict):
        for key in value:
            if key not in error.instance:
                about = _property_description(schema, key)
                owner = f"{name} is" if path else "the file is"
                message = f"{owner} missing '{key}': add it ({about})"
                yield (*path, key), doc.key_where(path), message
    elif "propertyNames" in error.absolute_schema_path:
        key = str(error.instance)
        about = _resolve(schema).get("description", "")
        # The key itself is wrong, not the audience under it: keep checking the audience.
        yield (*path, key, "<key>"), doc.key_where((*path, key)), f"invalid audience key '{key}': use {about}"
    elif kind == "type":
        yield path, doc.where(path), _type_message(name, value, error.instance, path in doc.plain)
    elif kind == "enum":
        choices = ", ".join("'\\t'" if c == "\t" else f"'{c}'" for c in value)
        hint = _did_you_mean(str(error.instance), [str(c) for c in value])
        message = f"{name} is {_show(error.instance)}, which is not one of: {choices}{hint}"
        yield path, doc.where(path), message
    elif kind == "const":
        yield path, doc.where(path), f"{name} must be {value!r}, not {_show(error.instance)}"
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        about = schema.get("description", "")
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            bounds = f"between {low} and {high}"
        else:
            bounds = f"at least {low}" if low is not None else f"at most {high}"
        yield path, doc.where(path), f"{name} must be {bounds}, not {_show(error.instance)}: {about}"
    elif kind == "pattern":
        about = schema.get("description", "")
        yield path, doc.where(path), f"{name} {_show(error.instance)} is not valid: use {about}"
    elif kind == "minLength":
        yield path, doc.where(path), f"{name} must not be empty"
    elif kind == "maxLength":
        yield path, doc.where(path), f"{name} is too long: at most {value} characters"
    elif kind == "minProperties":
        about = schema.get("description", "")
        yield path, doc.where(path), f"{name} must not be empty: map at least one field ({about})"
    else:
        yield path, doc.where(path), f"{name}: {error.message}"


def _name(path: PathKey) -> str:
    """A dotted, user-facing name for a node: audiences.vip.columns.phone."""
    if len(path) == 2 and path[0] == "audiences":
        return f"audience '{path[1]}'"
    return "'" + ".".join(str(part) for part in path) + "'" if path else "the document"


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` (#/$defs/...) once."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = load_schema()["$defs"].get(ref.rsplit("/", 1)[1], {})
        return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _property_description(schema: dict[str, Any], key: str) -> str:
    prop = schema.get("properties", {}).get(key, {})
    description: str = _resolve(prop).get("description", "see `reconciler schema`")
    return description


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _show(value: Any) -> str:
    """A short description of a YAML value for messages."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.date):
        return f"a date ({value.isoformat()})"
    if isinstance(value, bytes):
        return "binary data"
    return type(value).__name__


def _type_message(name: str, expected: Any, instance: Any, plain: bool) -> str:
    kinds = expected if isinstance(expected, list) else [expected]
    wanted = " or ".join(_TYPE_PHRASES.get(k, str(k)) for k in kinds)
    message = f"{name} must be {wanted}, not {_show(instance)}"
    if "string" in kinds and plain and instance is not None:
        message += "; put the value in quotes to use it as text"
    return message
