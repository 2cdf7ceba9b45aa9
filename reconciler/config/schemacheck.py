"""The declaration's JSON Schema compiled once into plain Python checks: a fast yes/no.

`jsonschema` interprets the schema anew for every node (about 0.5 ms an audience), which made
validation most of the cost of loading a 1,000-audience declaration. `compile_schema` turns the
keywords this project's schema uses into closures once per process; a document they accept is
valid, and only a document they reject goes through `jsonschema`, which words the errors.

The compiled check never accepts what `jsonschema` (draft 2020-12, no format assertions) rejects:
it returns None (no compiled check: always use `jsonschema`) for any keyword it does not know, and
it may reject a valid document only where it is conservative (`const`/`enum` of other than plain
text, numbers, booleans and null), which costs time, never correctness.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

# Keywords that only annotate (or that Draft202012Validator does not assert by default: format).
_ANNOTATIONS = frozenset({
    "$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples",
    "deprecated", "readOnly", "writeOnly", "format",
})  # fmt: skip
_SCALARS = (str, int, float, bool, type(None))


class _Unsupported(Exception):
    """A keyword (or a form of one) the compiler does not handle."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
}


def _same(a: Any, b: Any) -> bool:
    """JSON equality for plain scalars (True is not 1); anything else: not proven equal."""
    if not isinstance(a, _SCALARS) or not isinstance(b, _SCALARS):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, target: Any) -> Check:
        if not isinstance(target, str) or not target.startswith("#/$defs/"):
            raise _Unsupported(f"$ref {target!r}")
        name = target.rsplit("/", 1)[1]
        if name not in self.refs:
            definition = (self.root.get("$defs") or {}).get(name)
            if definition is None:
                raise _Unsupported(f"$ref {target!r}")
            holder: list[Check] = []
            self.refs[name] = lambda v: holder[0](v)  # recursive definitions see the final check
            holder.append(self.compile(definition))
        return self.refs[name]

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise _Unsupported("a schema that is not an object")
        checks: list[Check] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS:
                continue
            if keyword in ("properties", "additionalProperties", "then", "else"):
                continue  # together, below
            checks.append(self.keyword(keyword, value))
        if "if" in schema:
            checks.append(self.conditional(schema["if"], schema.get("then", True), schema.get("else", True)))
        if "properties" in schema or "additionalProperties" in schema:
            props, additional = schema.get("properties") or {}, schema.get("additionalProperties", True)
            checks.append(self.properties(props, additional))
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(check(v) for check in checks)

    def conditional(self, condition: Any, then: Any, otherwise: Any) -> Check:
        test, yes, no = self.compile(condition), self.compile(then), self.compile(otherwise)
        return lambda v: yes(v) if test(v) else no(v)

    def properties(self, props: Mapping[str, Any], additional: Any) -> Check:
        known = {name: self.compile(sub) for name, sub in props.items()}
        extra = self.compile(additional)

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            for name, item in value.items():
                sub = known.get(name)
                if not (sub(item) if sub is not None else extra(item)):
                    return False
            return True

        return check

    def keyword(self, keyword: str, value: Any) -> Check:
        if keyword == "$ref":
            return self.ref(value)
        if keyword == "type":
            kinds = [value] if isinstance(value, str) else list(value)
            if any(kind not in _TYPES for kind in kinds):
                raise _Unsupported(f"type {value!r}")
            tests = [_TYPES[kind] for kind in kinds]
            return lambda v: any(test(v) for test in tests)
        if keyword == "const":
            return lambda v: _same(v, value)
        if keyword == "enum":
            return lambda v: any(_same(v, choice) for choice in value)
        if keyword == "pattern":
            compiled = re.compile(value)
            return lambda v: not isinstance(v, str) or compiled.search(v) is not None
        if keyword in ("minLength", "maxLength"):
            low = keyword == "minLength"
            return lambda v: not isinstance(v, str) or (len(v) >= value if low else len(v) <= value)
        if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            bound = {
                "minimum": lambda v: v >= value,
                "maximum": lambda v: v <= value,
                "exclusiveMinimum": lambda v: v > value,
                "exclusiveMaximum": lambda v: v < value,
            }[keyword]
            return lambda v: not _is_number(v) or bool(bound(v))
        if keyword == "required":
            names = list(value)
            return lambda v: not isinstance(v, dict) or all(name in v for name in names)
        if keyword in ("minProperties", "maxProperties"):
            low = keyword == "minProperties"
            return lambda v: not isinstance(v, dict) or (len(v) >= value if low else len(v) <= value)
        if keyword == "propertyNames":
            names_ok = self.compile(value)
            return lambda v: not isinstance(v, dict) or all(names_ok(name) for name in v)
        if keyword == "items":
            item_ok = self.compile(value)
            return lambda v: not isinstance(v, list) or all(item_ok(item) for item in v)
        if keyword in ("minItems", "maxItems"):
            low = keyword == "minItems"
            return lambda v: not isinstance(v, list) or (len(v) >= value if low else len(v) <= value)
        if keyword in ("allOf", "anyOf", "oneOf"):
            subs = [self.compile(sub) for sub in value]
            if keyword == "allOf":
                return lambda v: all(sub(v) for sub in subs)
            if keyword == "anyOf":
                return lambda v: any(sub(v) for sub in subs)
            return lambda v: sum(1 for sub in subs if sub(v)) == 1
        if keyword == "if":
            return lambda v: True  # with then/else: see `conditional`
        if keyword == "not":
            negated = self.compile(value)
            return lambda v: not negated(v)
        raise _Unsupported(keyword)


def compile_schema(schema: Mapping[str, Any]) -> Check | None:
    """A check accepting exactly the documents `schema` accepts (see the module docstring), or
    None when the schema uses a keyword this compiler does not know."""
    try:
        return _Compiler(schema).compile(dict(schema))
    except (_Unsupported, re.error, TypeError):
        return None
