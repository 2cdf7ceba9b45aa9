"""The postgres backend through the CLI, on a real server: the whole lifecycle (plan, saved plans
and their stale checks, apply, refresh, import, state list/show/rm/mv/history, force-unlock,
migrate), and the URL's password never in any output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apply_support import Project, Result, cli, make_project, person
from pg_support import SUPERUSER_PASSWORD, PgCluster, free_port

from reconciler.emulator import Emulator
from reconciler.state.pg import PostgresStore

QUOTED_PASSWORD = "s3cret-pw%2Fwith%3Aodd%40chars"


@pytest.fixture
def project(tmp_path: Path, emulator: Emulator, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("RECONCILER_STATE_URL", pg_url)
    return make_project(tmp_path / "project", state_url=pg_url)


def clean(result: Result) -> Result:
    """`result`, after checking that no spelling of the password and no traceback is in it."""
    for text in (result.out, result.err):
        assert SUPERUSER_PASSWORD not in text and QUOTED_PASSWORD not in text
        assert "Traceback" not in text and "Internal error" not in text
    return result


def run(*argv: str) -> Result:
    return clean(cli(*argv))


def test_lifecycle_on_postgres(project: Project, emulator: Emulator, tmp_path: Path) -> None:
    args = project.args()
    assert run("validate", *args).code == 0
    first = tmp_path / "first.json"
    assert run("plan", "--out", str(first), *args).code == 0
    assert "3 succeeded" in run("apply", str(first), *args).out
    assert not (project.root / "state").exists()  # nothing written locally
    assert run("plan", "--detailed-exitcode", *args).code == 0
    vip = project.state_doc()["audiences"]["vip"]  # what the next plan reuses round-trips too
    assert len(vip["normaliser_digest"]) == 64 and vip["rows"] and vip["source_sha256"]
    stale = run("apply", str(first), *args)  # the serial moved since
    assert stale.code == 1 and "made from empty state" in stale.err

    project.rows["vip.csv"].append(person(40))
    project.write()
    second = tmp_path / "second.json"
    assert run("plan", "--out", str(second), *args).code == 0
    project.rows["vip.csv"].append(person(41))
    project.write()
    moved = run("apply", str(second), *args)  # a source changed after the plan
    assert moved.code == 1 and "the source file changed" in moved.err
    assert run("apply", "--auto-approve", *args).code == 0
    assert project.state_doc()["audiences"]["vip"]["member_count"] == 7

    listed = run("state", "list", *args)
    assert "workspace 'default' (postgres 127.0.0.1:" in listed.out and "vip" in listed.out
    shown = json.loads(run("state", "show", "vip", "--json", *args).out)
    assert shown["members"] == 7
    assert "No drift" in run("refresh", *args).out
    assert run("state", "mv", "vip", "vip2", *args).code == 0
    assert run("state", "mv", "vip2", "vip", *args).code == 0
    callers_id = project.state_doc()["audiences"]["callers"]["provider_id"]
    assert run("state", "rm", "callers", *args).code == 0
    assert "callers" not in project.state_doc()["audiences"]
    assert run("import", "callers", callers_id, *args).code == 0
    assert run("plan", "--detailed-exitcode", *args).code == 0  # imported: nothing to do
    history = json.loads(run("state", "history", "--json", *args).out)["versions"]
    assert history[-1]["current"] and len(history) >= 5
    assert [v["serial"] for v in history] == sorted(v["serial"] for v in history)


def test_lineage_change_makes_a_saved_plan_stale(project: Project, tmp_path: Path) -> None:
    args = project.args()
    assert run("apply", "--auto-approve", *args).code == 0
    project.rows["vip.csv"].append(person(40))
    project.write()
    saved = tmp_path / "plan.json"
    assert run("plan", "--out", str(saved), *args).code == 0
    # Another state (another lineage) arrives in the workspace, e.g. migrated over it with --force.
    other = tmp_path / "other-state"
    assert run("state", "migrate", "--to", "local", "--state", str(other), *args).code == 0
    doc = json.loads((other / "state.json").read_text())
    doc["lineage"] = "00000000-0000-4000-8000-000000000000"
    (other / "state.json").write_text(json.dumps(doc))
    assert run("state", "migrate", "--to", "postgres", "--force", "--state", str(other), *args).code == 0
    stale = run("apply", str(saved), *args)
    assert stale.code == 1 and "lineage changed" in stale.err


def test_a_held_lock_names_its_holder_and_force_unlock_terminates_it(project: Project) -> None:
    args = project.args()
    assert project.state_url
    assert run("apply", "--auto-approve", *args).code == 0
    holder = PostgresStore(project.state_url, "default")
    try:
        with holder.lock("apply") as info:
            blocked = run("apply", "--auto-approve", *args)
            assert blocked.code == 1 and info.id in blocked.err and "for 'apply'" in blocked.err
            waited = run("state", "rm", "vip", "--lock-timeout", "1s", *args)
            assert waited.code == 1 and "waited 1" in waited.err
            listed = run("state", "list", *args)
            assert f"Locked by {info.who}" in listed.out
            refused = run("force-unlock", info.id, *args)
            assert refused.code == 1 and "--terminate" in refused.err
            assert run("force-unlock", "wrong-id", "--terminate", *args).code == 1
            done = run("force-unlock", info.id, "--terminate", *args)
            assert done.code == 0 and "Ended the database session" in done.err
            state = holder.load()
            state.audiences.pop("vip")
            with pytest.raises(Exception, match="lost the state lock"):
                holder.save(state)  # the terminated run stops writing
            assert run("apply", "--auto-approve", *args).code == 0  # proceeds at once
    finally:
        holder.close()
    assert "vip" in project.state_doc()["audiences"]


def test_migrate_both_ways_keeps_everything(project: Project, tmp_path: Path) -> None:
    args = project.args()
    assert run("apply", "--auto-approve", *args).code == 0
    project.rows["vip.csv"].append(person(40))
    project.write()
    assert run("apply", "--auto-approve", *args).code == 0
    before = project.state_doc()
    local = tmp_path / "local-state"
    out = run("state", "migrate", "--to", "local", "--state", str(local), *args)
    kept = len(list((local / "history").glob("*.json")))
    assert out.code == 0 and "Verified by digest" in out.out and f"{kept} history version(s)" in out.out
    assert kept >= 5  # every intent and result was a version
    assert json.loads((local / "state.json").read_text()) == before
    refused = run("state", "migrate", "--to", "local", "--state", str(local), *args)
    assert refused.code == 1 and "--force" in refused.err
    local_plan = run("plan", "--detailed-exitcode", "-c", str(project.config), "--state", str(local))
    assert local_plan.code == 0  # the copy plans as a no-op: fingerprints and key came along
    assert run("state", "migrate", "--to", "postgres", "--force", "--state", str(local), *args).code == 0
    assert project.state_doc() == before


def urls(cluster: PgCluster, database: str) -> dict[str, str]:
    """URLs that fail in different ways, each carrying the password."""
    port = cluster.port
    return {
        "wrong password": cluster.url(database, password=SUPERUSER_PASSWORD + "x"),
        "server down": f"postgresql://postgres:{QUOTED_PASSWORD}@127.0.0.1:{free_port()}/{database}",
        "bad host": f"postgresql://postgres:{QUOTED_PASSWORD}@no-such-host.invalid:{port}/{database}",
        "bad database": cluster.url("no_such_database"),
        "password parameter": f"postgresql://postgres@127.0.0.1:{port}/nodb?password={QUOTED_PASSWORD}",
        "not a url": f"host=127.0.0.1 port=notaport password={SUPERUSER_PASSWORD}",
    }


@pytest.mark.parametrize(
    "case", ["wrong password", "server down", "bad host", "bad database", "password parameter", "not a url"]
)
def test_failing_connections_never_show_the_password(
    case: str, project: Project, pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_STATE_URL", urls(pg_cluster, "postgres")[case])
    for argv in (["plan"], ["apply", "--auto-approve"], ["state", "list"], ["force-unlock", "x"]):
        result = run(*argv, *project.args())
        assert result.code == 1 and result.err.startswith("Error: "), (case, argv, result.err)
        assert "state database" in result.err


def test_missing_url_and_missing_driver_say_what_to_do(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECONCILER_STATE_URL")
    missing = run("plan", *project.args())
    assert missing.code == 1 and "RECONCILER_STATE_URL is not set" in missing.err
    assert "audiences.yaml:4)" in missing.err  # where the state: section is
    monkeypatch.setenv("RECONCILER_STATE_URL", "postgresql://u:p@127.0.0.1/db")
    monkeypatch.setitem(__import__("sys").modules, "psycopg", None)
    no_driver = run("plan", *project.args())
    assert no_driver.code == 1 and "pip install 'reconciler[postgres]'" in no_driver.err


def test_a_read_only_role_can_plan_but_not_apply(
    project: Project, pg_cluster: PgCluster, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pull-request CI may hold a role that can only read the state: plan, show and list work
    with it (they create and lock nothing), and apply fails with one clear message."""
    assert run("apply", "--auto-approve", *project.args()).code == 0
    database = pg_url.rsplit("/", 1)[1]
    role = f"reader_{database}"
    for statement in (
        f"CREATE ROLE {role} LOGIN PASSWORD '{SUPERUSER_PASSWORD}'",
        f"GRANT CONNECT ON DATABASE {database} TO {role}",
    ):
        pg_cluster.sql(statement)
    for statement in (
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
    ):
        pg_cluster.sql(statement, database)
    monkeypatch.setenv("RECONCILER_STATE_URL", pg_cluster.url(database, user=role))
    args = project.args()
    assert run("plan", "--detailed-exitcode", *args).code == 0
    assert "vip" in run("state", "list", *args).out
    assert run("state", "show", "vip", *args).code == 0 and run("state", "history", *args).code == 0
    project.rows["vip.csv"].append(person(40))
    project.write()
    assert run("plan", "--detailed-exitcode", *args).code == 2
    refused = run("apply", "--auto-approve", *args)
    assert refused.code == 1 and refused.err.startswith("Error: ") and "permission denied" in refused.err
