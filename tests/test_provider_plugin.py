"""The example provider plugin (examples/provider-plugin/), installed with pip as a user would, works
through the whole tool with no file under reconciler/ naming it: listed, in the composed schema,
validated, planned, applied in the sandbox, served by `reconciler emulate`, applied there for real,
refreshed and imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_support import PLUGIN, ROOT, installed

from reconciler.providers import registry

pytestmark = pytest.mark.slow

DECLARATION = """\
version: 1
defaults: {phone_region: US}
audiences:
  example-vip:
    provider: example
    name: Example VIP
    source: data/vip.csv
    columns: {phone: Mobile, first_name: First}
"""
ROWS = "Mobile,First\n(415) 555-0101,Ann\n(415) 555-0102,Bob\n+1 415 555 0103,Cy\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return installed(tmp_path_factory.mktemp("plugin") / "site")[0]


@pytest.fixture
def env(site: Path) -> dict[str, str]:
    """The environment of a user who installed the plugin (and has no provider variables)."""
    names = {v for c in registry.providers().values() for v in (c.token_env, c.base_url_env)}
    clean = {k: v for k, v in os.environ.items() if k not in names and not k.startswith("EXAMPLE_")}
    clean.pop("WHOP_ACCOUNT_ID", None)
    return {**clean, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}


def run(cwd: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reconciler", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "vip.csv").write_text(ROWS, encoding="utf-8")
    (tmp_path / "audiences.yaml").write_text(DECLARATION, encoding="utf-8")
    return tmp_path


@pytest.fixture
def emulate(project: Path, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """`reconciler emulate --port 0` running; the variables it prints, added to `env`."""
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "emulate", "--port", "0", "--quiet"],
                            cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        exports: dict[str, str] = {}
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while not {"EXAMPLE_BASE_URL", "EXAMPLE_API_TOKEN", "WHOP_ACCOUNT_ID"} <= set(exports):
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, "emulate printed no exports"
            if line.startswith("export "):
                name, _, value = line[len("export "):].strip().partition("=")
                exports[name] = value.strip("'")
        yield {**env, **exports}
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_plugin_is_a_package_of_its_own_that_only_registers_itself() -> None:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "."],
                            cwd=PLUGIN, capture_output=True, text=True, check=True)
    files = sorted(listed.stdout.split())
    assert files == ["README.md", "pyproject.toml", "reconciler_example/__init__.py",
                     "reconciler_example/emulator.py", "reconciler_example/provider.py"]
    pyproject = (PLUGIN / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points."reconciler.providers"]' in pyproject
    assert not list((ROOT / "reconciler").rglob("*example*"))


def test_listed_and_in_the_schema(project: Path, env: dict[str, str]) -> None:
    listed = run(project, env, "providers")
    assert listed.returncode == 0, listed.stderr
    assert "example  Example Lists  (plugin reconciler_example.provider:Example)" in listed.stdout
    assert "4 providers registered." in listed.stdout
    document = json.loads(run(project, env, "providers", "--json").stdout)
    assert [p["name"] for p in document["providers"]] == ["commbox", "whop", "smallest", "example"]
    assert document["problems"] == []
    schema = json.loads(run(project, env, "schema").stdout)
    assert "example" in schema["$defs"]["audience"]["properties"]["provider"]["enum"]
    assert "example" in schema["properties"]["providers"]["properties"]


def test_validate_plan_and_sandbox_apply(project: Path, env: dict[str, str]) -> None:
    validated = run(project, env, "validate")
    assert validated.returncode == 0, validated.stderr
    assert "Example  \"Example VIP\"" in validated.stdout
    planned = run(project, env, "plan", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "example-vip" in planned.stdout and "create" in planned.stdout
    applied = run(project, env, "apply", "--sandbox", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "1 succeeded, 0 failed" in applied.stdout
    # the declaration is checked with the plugin's rules too: identifier is not one of its fields
    (project / "audiences.yaml").write_text(DECLARATION.replace("first_name: First", "identifier: First"),
                                            encoding="utf-8")
    refused = run(project, env, "validate")
    assert refused.returncode == 1 and "'identifier' is only for Smallest audiences" in refused.stderr


def test_emulate_serves_it_and_apply_refresh_import_work(project: Path, emulate: dict[str, str]) -> None:
    env = emulate
    applied = run(project, env, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    state = json.loads((project / "state" / "state.json").read_text(encoding="utf-8"))
    list_id = state["audiences"]["example-vip"]["provider_id"]
    assert list_id.startswith("lst_") and state["audiences"]["example-vip"]["member_count"] == 3
    refreshed = run(project, env, "refresh", "--detailed-exitcode")
    assert refreshed.returncode == 0 and "No drift: 1 managed audience checked." in refreshed.stdout
    assert run(project, env, "state", "rm", "example-vip").returncode == 0
    imported = run(project, env, "import", "example-vip", list_id)
    assert imported.returncode == 0, imported.stderr
    assert f"Imported example audience {list_id}" in imported.stdout
    assert run(project, env, "refresh", "--detailed-exitcode").returncode == 0
