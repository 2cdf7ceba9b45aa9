"""Query sources through the CLI against a real PostgreSQL server and the provider emulator:
`plan` counts the same members as the same rows in a CSV, `apply` delivers exactly those members,
a saved plan goes stale when a row changes, and every failure is one clear message (exit 1, no
traceback, no password)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from apply_support import Result, cli
from pg_support import SUPERUSER_PASSWORD, PgCluster, running_cluster
from query_support import load_table, write_csv

from reconciler.emulator import Emulator

ROWS: list[tuple[str | None, str | None, str | None]] = [
    (f"(415) 555-{100 + i:04d}", f"person{i}@example.com", f"Name{i % 4}") for i in range(12)
] + [
    ("415.555.0100", "person0@example.com", "Other"),  # duplicate of row 1, other name
    ("no phone here", None, "Bad"),
    (None, "only-email@example.com", "Mail"),
    (None, "broken@", None),
    ("14155550199", None, "Digits"),
]
QUERY = "SELECT mobile, email, first_name FROM customers WHERE tier = 'vip' ORDER BY id"
COLUMNS = {
    "commbox": {"phone": "mobile", "first_name": "first_name"},
    "whop": {"phone": "mobile", "email": "email", "first_name": "first_name"},
    "smallest": {"phone": "mobile", "first_name": "first_name"},
}


def write_project(
    root: Path,
    *,
    twins: bool = True,
    query: str = QUERY,
    url_env: str = "WAREHOUSE_URL",
    extra: dict[str, Any] | None = None,
) -> Path:
    """A declaration with one query audience per provider (and a CSV twin of each, same rows)."""
    (root / "data").mkdir(exist_ok=True)
    write_csv(root / "data" / "customers.csv", ROWS)
    audiences: dict[str, Any] = {}
    for provider, columns in COLUMNS.items():
        audiences[f"{provider}-query"] = {
            "provider": provider,
            "name": f"{provider} from query",
            "source": {"query": query, "url_env": url_env},
            "columns": columns,
            **(extra or {}),
        }
        if twins:
            audiences[f"{provider}-csv"] = {
                "provider": provider,
                "name": f"{provider} from csv",
                "source": "data/customers.csv",
                "columns": columns,
            }
    doc = {
        "version": 1,
        "defaults": {"phone_region": "US"},
        "providers": {"whop": {"account_id": "biz_1"}},
        "audiences": audiences,
    }
    config = root / "audiences.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return config


@pytest.fixture
def warehouse(pg_url: str) -> str:
    load_table(pg_url, ROWS)
    with mock.patch.dict(os.environ, {"WAREHOUSE_URL": pg_url}):
        yield pg_url


def args(root: Path) -> list[str]:
    return ["-c", str(root / "audiences.yaml"), "--state", str(root / "state")]


def clean(result: Result, url: str | None = None) -> str:
    """The output, checked to hold no traceback, no password and no raw phone number."""
    text = result.out + result.err
    assert "Traceback" not in text and "Internal error" not in text
    assert SUPERUSER_PASSWORD not in text and "s3cret" not in text
    if url:
        assert url not in text
    assert "(415) 555" not in text and "person0@" not in text
    return text


def test_plan_counts_the_same_members_as_the_csv(warehouse: str, tmp_path: Path) -> None:
    write_project(tmp_path)
    result = cli("plan", "--format", "json", *args(tmp_path))
    assert result.code == 0, result.err
    clean(result, warehouse)
    changes = {c["address"]: c for c in json.loads(result.out)["changes"]}
    for provider in COLUMNS:
        query, csv = changes[f"{provider}-query"], changes[f"{provider}-csv"]
        assert query["members"] == csv["members"] and query["members"]["after"] > 0
        query_rows, csv_rows = dict(query["rows"]), dict(csv["rows"])
        query_samples, csv_samples = query_rows.pop("samples"), csv_rows.pop("samples")
        assert query_rows == csv_rows and query_rows["invalid"] > 0
        # the CSV's row numbers count its header; the query's are result ordinals
        shift = [
            s.replace(f"row {int(s.split()[1])}", f"row {int(s.split()[1]) - 1}", 1) for s in csv_samples
        ]
        assert query_samples == shift
        assert query["source"] == "query (WAREHOUSE_URL)"
    text = cli("plan", *args(tmp_path))
    assert "query (WAREHOUSE_URL)" in clean(text, warehouse)


def test_validate_reads_queries_and_allows_forbid_tracked_sources(warehouse: str, tmp_path: Path) -> None:
    write_project(tmp_path, twins=False)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "audiences.yaml"], check=True)
    result = cli("validate", "--forbid-tracked-sources", "-c", str(tmp_path / "audiences.yaml"))
    assert result.code == 0, result.out + result.err
    text = clean(result, warehouse)
    assert "query (WAREHOUSE_URL)" in text and "17 read" in text


def test_apply_delivers_exactly_the_query_members(warehouse: str, tmp_path: Path, emulator: Emulator) -> None:
    write_project(tmp_path)
    result = cli("apply", "--auto-approve", *args(tmp_path))
    assert result.code == 0, result.out + result.err
    clean(result, warehouse)
    state = json.loads((tmp_path / "state" / "state.json").read_text())["audiences"]
    for provider in COLUMNS:
        from_query = emulator.members(provider, state[f"{provider}-query"]["provider_id"])
        from_csv = emulator.members(provider, state[f"{provider}-csv"]["provider_id"])
        strip = [
            {k: v for k, v in m.items() if k not in ("id", "_id", "created_at", "createdAt")}
            for m in from_query
        ]
        assert strip == [
            {k: v for k, v in m.items() if k not in ("id", "_id", "created_at", "createdAt")}
            for m in from_csv
        ]
        assert len(from_query) == (14 if provider == "whop" else 13)
    again = cli("plan", "--detailed-exitcode", *args(tmp_path))
    assert again.code == 0, again.out


def test_a_changed_row_makes_a_saved_plan_stale(warehouse: str, tmp_path: Path, emulator: Emulator) -> None:
    write_project(tmp_path, twins=False)
    plan_file = tmp_path / "plan.json"
    assert cli("plan", "--out", str(plan_file), *args(tmp_path)).code == 0
    saved = json.loads(plan_file.read_text())["inputs"]
    assert sorted(saved["queries"]) == ["commbox-query", "smallest-query", "whop-query"]
    assert saved["sources"] == {}
    import psycopg

    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute("UPDATE customers SET first_name = 'Changed' WHERE id = 3")
    result = cli("apply", str(plan_file), *args(tmp_path))
    assert result.code == 1
    text = clean(result, warehouse)
    assert "The saved plan is stale" in text
    for key in ("commbox-query", "whop-query", "smallest-query"):
        assert f"audience '{key}': the rows of its query (query (WAREHOUSE_URL)) changed" in text
    assert emulator.audiences("commbox") == []
    # a fresh plan of the same rows applies
    assert cli("plan", "--out", str(plan_file), *args(tmp_path)).code == 0
    result = cli("apply", str(plan_file), *args(tmp_path))
    assert result.code == 0, result.out + result.err
    assert len(emulator.audiences("commbox")) == 1


def _error(root: Path, command: str = "plan", url: str | None = None) -> str:
    result = (
        cli(command, *args(root)) if command == "plan" else cli(command, "-c", str(root / "audiences.yaml"))
    )
    assert result.code == 1, result.out + result.err
    return clean(result, url)


@pytest.mark.parametrize("command", ["plan", "validate"])
def test_bad_query_and_missing_column(warehouse: str, tmp_path: Path, command: str) -> None:
    write_project(tmp_path, twins=False, query="SELECT mobile, first_name FROM customerz")
    assert 'relation "customerz" does not exist' in _error(tmp_path, command, warehouse)
    write_project(tmp_path, twins=False, query="SELECT mobile AS phone, first_name FROM customers")
    text = _error(tmp_path, command, warehouse)
    assert "column 'mobile' (columns.phone of audience 'commbox-query') is not a result column" in text
    assert "the query returns: 'phone', 'first_name'" in text
    assert "audiences.yaml:" in text


@pytest.mark.parametrize("command", ["plan", "validate", "apply"])
def test_missing_env_variable(tmp_path: Path, command: str) -> None:
    write_project(tmp_path, twins=False, url_env="NO_SUCH_WAREHOUSE_URL")
    result = cli(command, *args(tmp_path), *(["--auto-approve"] if command == "apply" else []))
    assert result.code == 1
    text = clean(result)
    assert (
        "audience 'commbox-query' reads its members from PostgreSQL, but the environment variable "
        "NO_SUCH_WAREHOUSE_URL is not set" in text
    )
    assert "audiences.yaml:11:5:" in text  # the `source:` line of the audience


def test_unreachable_server_in_a_subprocess(tmp_path: Path) -> None:
    """The server stopped: one line naming the audience and the variable; no traceback, no password."""
    with running_cluster() as cluster:
        url = cluster.new_database()
        load_table(url, ROWS)
        write_project(tmp_path, twins=False)
        cluster.stop()
        env = {**os.environ, "WAREHOUSE_URL": url}
        for command in ("plan", "validate"):
            run = subprocess.run(
                [sys.executable, "-m", "reconciler", command, "-c", str(tmp_path / "audiences.yaml")],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
                check=False,
            )
            assert run.returncode == 1, run.stdout + run.stderr
            text = clean(Result(run.returncode, run.stdout, run.stderr), url)
            assert "cannot connect to the PostgreSQL server in WAREHOUSE_URL: Connection refused" in text
            assert "audience 'commbox-query'" in text and "audiences.yaml:11:5" in text


def test_wrong_password(tmp_path: Path, pg_cluster: PgCluster) -> None:
    write_project(tmp_path, twins=False)
    url = pg_cluster.url(password=SUPERUSER_PASSWORD + "-Zq9x")
    with mock.patch.dict(os.environ, {"WAREHOUSE_URL": url}):
        text = _error(tmp_path, "plan", url)
    assert "password authentication failed" in text and "Zq9x" not in text


SCHEMA_CASES = {
    "unknown key": (
        {"query": "SELECT 1", "url_env": "W", "urlenv": "X"},
        "unknown key 'urlenv' in 'audiences.commbox-query.source' (did you mean 'url_env'?)",
    ),
    "no url_env": ({"query": "SELECT 1"}, "'audiences.commbox-query.source' is missing 'url_env'"),
    "bad env name": ({"query": "SELECT 1", "url_env": "MY URL"}, "'audiences.commbox-query.source.url_env'"),
    "empty query": ({"query": " ; ", "url_env": "W"}, "the query is empty"),
    "timeout": (
        {"query": "SELECT 1", "url_env": "W", "statement_timeout": 0},
        "statement_timeout' must be between 1 and 86400, not 0",
    ),
    "a list": (["SELECT 1"], "must be text or a mapping"),
}


@pytest.mark.parametrize("case", sorted(SCHEMA_CASES))
def test_declaration_errors_are_found_offline(tmp_path: Path, case: str) -> None:
    source, expected = SCHEMA_CASES[case]
    config = write_project(tmp_path, twins=False)
    doc = yaml.safe_load(config.read_text())
    doc["audiences"]["commbox-query"]["source"] = source
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    with mock.patch.dict(os.environ, {"WAREHOUSE_URL": "postgresql://nobody@127.0.0.1:1/none"}):
        text = _error(tmp_path, "validate")
    assert expected in text, text
    assert "audiences.yaml:" in text and "cannot connect" not in text


def test_file_options_do_not_apply_to_a_query(tmp_path: Path) -> None:
    write_project(tmp_path, twins=False, extra={"delimiter": ";"})
    text = _error(tmp_path, "validate")
    assert "'delimiter' applies only to file sources, not to a query source; remove it" in text


def test_rows_changing_during_apply_send_nothing(
    warehouse: str, tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows that change between the plan and the upload: the step fails before any provider call
    (state records only what was uploaded), and the next apply sends the new rows."""
    import psycopg

    from reconciler.executor import step as step_module

    write_project(tmp_path, twins=False)
    real = step_module.iter_members

    def changing(spec: Any, **kwargs: Any) -> Any:
        with psycopg.connect(warehouse, autocommit=True) as conn:
            conn.execute("UPDATE customers SET first_name = first_name || 'x' WHERE id = 2")
        return real(spec, **kwargs)

    monkeypatch.setattr(step_module, "iter_members", changing)
    result = cli("apply", "--auto-approve", *args(tmp_path))
    assert result.code == 1
    text = clean(result, warehouse)
    for key in ("commbox-query", "whop-query", "smallest-query"):
        assert f"{key}: the rows of its query (query (WAREHOUSE_URL)) changed while applying" in text
    assert emulator.audiences("commbox") == emulator.audiences("smallest") == emulator.audiences("whop") == []
    monkeypatch.setattr(step_module, "iter_members", real)
    again = cli("apply", "--auto-approve", *args(tmp_path))
    assert again.code == 0, again.out + again.err
    state = json.loads((tmp_path / "state" / "state.json").read_text())["audiences"]
    names = {
        m.get("first_name") or m.get("firstName")
        for m in emulator.members("commbox", state["commbox-query"]["provider_id"])
    }
    assert any(str(n).endswith("x") for n in names)  # the changed first name arrived
    assert cli("plan", "--detailed-exitcode", *args(tmp_path)).code == 0


def test_plan_reads_the_query_every_time(warehouse: str, tmp_path: Path, emulator: Emulator) -> None:
    """Nothing in the repository changes when a table does: plan must run the query regardless."""
    write_project(tmp_path, twins=False)
    assert cli("apply", "--auto-approve", *args(tmp_path)).code == 0
    assert cli("plan", "--detailed-exitcode", *args(tmp_path)).code == 0
    import psycopg

    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute("INSERT INTO customers (mobile, first_name) VALUES ('(415) 555-0177', 'New')")
    result = cli("plan", "--detailed-exitcode", "--format", "json", *args(tmp_path))
    assert result.code == 2, result.out + result.err
    changes = {c["address"]: c for c in json.loads(result.out)["changes"]}
    assert all(changes[f"{p}-query"]["members"]["added"] == 1 for p in COLUMNS)


def test_without_psycopg_the_message_says_what_to_install(
    warehouse: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(tmp_path, twins=False)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
    text = _error(tmp_path, "validate", warehouse)
    assert "pip install 'reconciler[postgres]'" in text and "audience 'commbox-query'" in text
def test_query_sources_are_read_on_every_plan(warehouse: str, tmp_path: Path, emulator: Emulator) -> None:
    write_project(tmp_path)
    assert cli("apply", "--auto-approve", *args(tmp_path)).code == 0
    import psycopg

    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute("UPDATE customers SET first_name = 'Changed' WHERE id = 3")
    result = cli("plan", "--format", "json", *args(tmp_path))
    assert result.code == 0, result.err
    changes = {c["address"]: c for c in json.loads(result.out)["changes"]}
    for provider in COLUMNS:  # the file twins are planned from state; the queries ran again
        assert changes[f"{provider}-csv"]["rows"]["note"] == "source unchanged since the last apply"
        query = changes[f"{provider}-query"]
        assert "note" not in query["rows"] and query["action"] != "no-op"
        assert query["members"]["changed"] == 1
