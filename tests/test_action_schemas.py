"""action.yml and the example workflows validate against SchemaStore's published GitHub schemas
(vendored under tests/schemas/, see its README for where they came from)."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = Path(__file__).parent / "schemas"
WORKFLOWS = sorted((REPO / "examples" / "github").glob("*.yml"))


def validator(name: str) -> Draft7Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def load(path: Path) -> Any:
    data = yaml.safe_load(path.read_text())
    if isinstance(data, dict) and True in data:  # YAML 1.1 reads `on` as true; GitHub reads YAML 1.2
        data["on"] = data.pop(True)
    return data


def errors(v: Draft7Validator, document: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in v.iter_errors(document)]


def test_vendored_schemas_are_the_recorded_ones() -> None:
    readme = (SCHEMAS / "README.md").read_text()
    for name, schema_id in (
        ("github-action.json", "https://json.schemastore.org/github-action.json"),
        ("github-workflow.json", "https://json.schemastore.org/github-workflow.json"),
    ):
        data = (SCHEMAS / name).read_bytes()
        assert json.loads(data)["$id"] == schema_id
        assert re.search(rf"`{re.escape(name)}`.*`{hashlib.sha256(data).hexdigest()}`", readme), name


def test_action_yml_validates() -> None:
    assert errors(validator("github-action.json"), load(REPO / "action.yml")) == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_example_workflows_validate(path: Path) -> None:
    assert errors(validator("github-workflow.json"), load(path)) == []


def test_the_schemas_do_reject_mistakes() -> None:
    """The validation has teeth: a typo in the action or a workflow is caught."""
    action = load(REPO / "action.yml")
    broken_action = copy.deepcopy(action)
    broken_action["runs"]["using"] = "composit"
    assert errors(validator("github-action.json"), broken_action)
    del action["runs"]["steps"][1]["shell"]  # composite run steps must name their shell
    assert errors(validator("github-action.json"), action)
    workflow = load(WORKFLOWS[0])
    [job] = workflow["jobs"].values()
    job["runs_on"] = job.pop("runs-on")
    assert errors(validator("github-workflow.json"), workflow)
    assert {REPO / "examples/github/apply.yml", REPO / "examples/github/plan.yml"} <= set(WORKFLOWS)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_example_workflows_are_callers_of_the_action(path: Path) -> None:
    """reconciler is installed and run by the action, pinned to a release, not by hand."""
    text = path.read_text()
    assert re.search(r"uses: example-org/reconciler@v\d+\.\d+\.\d+", text)
    assert "pip install" not in text and "github-script" not in text
