"""The shipped JSON Schema: valid draft 2020-12, agrees with the loader, and documented in the README."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from reconciler.config.compose import compose_schema, schema_json
from reconciler.config.model import MAPPABLE_FIELDS
from reconciler.config.schema import load_schema, shipped_schema_text
from reconciler.providers import registry

PROVIDERS = registry.names()

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def property_names(node: Any) -> set[str]:
    """Every property name declared anywhere in the schema."""
    names: set[str] = set()
    if isinstance(node, dict):
        names |= set(node.get("properties", {}))
        for value in node.values():
            names |= property_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= property_names(value)
    return names


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_schema_knows_every_provider_and_mappable_field() -> None:
    schema = load_schema()
    audience = schema["$defs"]["audience"]
    assert audience["properties"]["provider"]["enum"] == list(PROVIDERS)
    assert set(audience["properties"]["columns"]["properties"]) == set(MAPPABLE_FIELDS)
    assert set(schema["properties"]["providers"]["properties"]) == set(PROVIDERS)


def test_shipped_schema_is_the_composition_for_the_built_in_providers() -> None:
    assert shipped_schema_text() == schema_json(compose_schema(registry.builtins()))
    assert list(registry.builtins()) == ["commbox", "whop", "smallest"]


def test_bundled_example_passes_the_schema_alone() -> None:
    data = yaml.safe_load((ROOT / "audiences.yaml").read_text(encoding="utf-8"))
    assert list(Draft202012Validator(load_schema()).iter_errors(data)) == []


def test_every_schema_property_is_documented_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    names = property_names(load_schema())
    assert len(names) >= 25
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert missing == [], f"README.md does not document: {missing}"


def test_readme_quick_start_has_exactly_two_commands() -> None:
    readme = README.read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2
    assert all(len(block.strip().splitlines()) == 1 for block in blocks)
    assert blocks[0].startswith("pip install . && reconciler ")
    assert blocks[1].strip() == "pip install -e '.[test]' && python3 -m pytest"


def test_readme_explains_every_runtime_dependency() -> None:
    readme = README.read_text(encoding="utf-8")
    section = readme.split("## Dependencies", 1)[1]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    packages = re.findall(r'"([A-Za-z0-9_.-]+)', block)
    assert packages
    for package in packages:
        assert f"| `{package}` |" in section, f"no reason given for {package}"

