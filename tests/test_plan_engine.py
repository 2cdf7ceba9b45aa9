"""The engine over real declarations, sources and state: plans, inputs, staleness."""

from __future__ import annotations

from pathlib import Path

import pytest
from planhelpers import apply_project, phone, spec, state_after_apply, write_csv, write_project

from reconciler.config.model import AudienceSpec, SourceSpec
from reconciler.errors import ReconcilerError, StalePlanError, UsageError
from reconciler.planning.engine import PlanOptions, check_plan_current, load_project, make_plan
from reconciler.planning.plan import Action


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RECONCILER_FINGERPRINT_KEY", raising=False)
    monkeypatch.delenv("WHOP_ACCOUNT_ID", raising=False)
    return write_project(tmp_path)


def plan_of(config: Path, **options: list[str]):  # type: ignore[no-untyped-def]
    project = load_project(config, config.parent / "state", options.get("targets") or None)
    return project, make_plan(project, PlanOptions(**options))


def test_empty_state_plans_creates_with_inputs(config: Path) -> None:
    project, plan = plan_of(config)
    assert [(c.address, c.action) for c in plan.changes] == [
        ("buyers", Action.CREATE), ("callers", Action.CREATE), ("vip", Action.CREATE)]
    assert plan.inputs.state_lineage is None and plan.inputs.state_serial == 0
    assert plan.inputs.config == str(config)
    assert plan.inputs.config_sha256 == project.declaration.sha256
    assert sorted(plan.inputs.sources) == ["data/buyers.csv", "data/callers.csv", "data/vip.csv"]
    assert plan.tool_version and plan.created_at.endswith("Z")


def test_after_apply_everything_is_noop(config: Path) -> None:
    apply_project(config)
    _, plan = plan_of(config)
    assert {c.action for c in plan.changes} == {Action.NOOP}
    assert not plan.has_changes


def test_member_changes_are_counted(config: Path) -> None:
    apply_project(config)
    write_csv(config.parent / "data/vip.csv", "Mobile,First",
              [f"{phone(i)},Name{i}" for i in range(3, 12)] + [f"{phone(0)},Renamed"])
    _, plan = plan_of(config)
    vip = next(c for c in plan.changes if c.address == "vip")
    assert (vip.action, vip.strategy) == (Action.UPDATE, "put_replace")
    assert (vip.members.added, vip.members.removed, vip.members.changed) == (2, 2, 1)


def test_targets_limit_plan_and_inputs(config: Path) -> None:
    _, plan = plan_of(config, targets=["vip"])
    assert [c.address for c in plan.changes] == ["vip"]
    assert plan.inputs.sources.keys() == {"data/vip.csv"} and plan.inputs.targets == ["vip"]


def test_target_may_name_a_key_only_in_state(config: Path) -> None:
    apply_project(config)
    text = config.read_text().split("  buyers:")[0]
    config.write_text(text)
    _, plan = plan_of(config, targets=["buyers"])
    assert [(c.address, c.action) for c in plan.changes] == [("buyers", Action.DELETE)]


@pytest.mark.parametrize("flag", ["targets", "replace", "allow_shrink", "allow_destroy"])
def test_unknown_keys_are_usage_errors(config: Path, flag: str) -> None:
    project = load_project(config, config.parent / "state")
    with pytest.raises(UsageError, match="nope"):
        make_plan(project, PlanOptions(**{flag: ["nope"]}))


def test_stale_plan_from_empty_state_applied_twice(config: Path) -> None:
    project, plan = plan_of(config)
    check_plan_current(plan, project)  # current right after planning
    apply_project(config)
    project = load_project(config, config.parent / "state")
    with pytest.raises(StalePlanError, match="empty state") as err:
        check_plan_current(plan, project)
    assert "was this plan applied already" in str(err.value)


def test_stale_plan_names_what_moved(config: Path) -> None:
    apply_project(config)
    project, plan = plan_of(config)
    (config.parent / "data/callers.csv").write_text("Phone\n+12125550999\n")
    config.write_text(config.read_text().replace("name: Buyers", "name: Buyers 2"))
    state, sets = state_after_apply(project)
    project.store.save(state, sets)
    with pytest.raises(StalePlanError) as err:
        check_plan_current(plan, load_project(config, config.parent / "state"))
    message = str(err.value)
    assert "serial moved from 1 to 2" in message
    assert "the declaration changed" in message and str(config) in message
    assert "data/callers.csv: the source file changed" in message
    assert "data/vip.csv" not in message and "data/buyers.csv" not in message


def test_a_source_gone_since_the_plan_is_a_clean_error(config: Path) -> None:
    plan_of(config, targets=["vip"])
    (config.parent / "data/vip.csv").unlink()
    with pytest.raises(ReconcilerError, match=r"data/vip\.csv"):
        load_project(config, config.parent / "state", ["vip"])


def test_the_stale_check_opens_no_path_only_the_plan_names(config: Path, tmp_path: Path) -> None:
    """The re-derivation names an extra source as a difference; the check never reads it."""
    project, plan = plan_of(config, targets=["vip"])
    outside = tmp_path / "outside.csv"
    outside.write_text("secret\n")
    plan.inputs.sources[str(outside)] = "0" * 64
    check_plan_current(plan, project)


def test_interrupted_apply_warns(config: Path) -> None:
    from reconciler.state.store import Intent

    state = apply_project(config)
    state.intents.append(Intent(id="i-1", key="buyers", provider="whop", operation="create",
                                name="Buyers", started_at="2026-01-01T00:00:00Z"))
    store = load_project(config, config.parent / "state").store
    store.save(state)
    _, plan = plan_of(config)
    buyers = next(c for c in plan.changes if c.address == "buyers")
    assert any("interrupted during create" in w for w in buyers.warnings)


def many_specs(tmp_path: Path, count: int = 30) -> list[AudienceSpec]:
    """`count` small sources: enough for scan_sources to use its process pool."""
    specs = []
    for n in range(count):
        path = tmp_path / f"s{n}.csv"
        write_csv(path, "Mobile,First", [f"{phone(n * 10 + i)},N{i}" for i in range(n + 1)] + ["bad,X"])
        specs.append(spec(f"a{n}", source=SourceSpec(path=path, display=f"s{n}.csv")))
    return specs


def test_pooled_scans_equal_sequential_scans(tmp_path: Path) -> None:
    from reconciler.planning.engine import scan_sources
    from reconciler.sources.scan import scan_source

    specs = many_specs(tmp_path)
    key = b"k" * 32
    pooled = scan_sources(specs, key)
    assert list(pooled) == [s.key for s in specs]
    for s in specs:
        one = scan_source(s, key)
        got = pooled[s.key]
        assert (got.members.digest(), got.sha256, got.rows_read, got.invalid, got.issues) == (
            one.members.digest(), one.sha256, one.rows_read, one.invalid, one.issues)


def test_pooled_scan_errors_arrive_whole(tmp_path: Path) -> None:
    """A source that fails in a pool worker fails the scan with its located problem intact."""
    from reconciler.errors import SourceError
    from reconciler.planning.engine import scan_sources

    specs = many_specs(tmp_path)
    (tmp_path / "s7.csv").write_text('Mobile,First\n+14155550100,Ann\n"+14155550101,Bob\n', encoding="utf-8")
    with pytest.raises(SourceError) as err:
        scan_sources(specs, b"k" * 32)
    assert [(p.file, p.line) for p in err.value.problems] == [("s7.csv", 3)]
    assert "never closed" in str(err.value)


def test_pooled_scans_do_not_fork_a_threaded_process(tmp_path: Path) -> None:
    """With another thread alive (a progress display, a test server) the pool starts its workers
    without fork, which can hang on a lock the other thread held, and still scans every source."""
    import threading

    from reconciler.planning.engine import scan_sources
    from reconciler.sources.parallel import start_method

    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert start_method() != "fork"
        pooled = scan_sources(many_specs(tmp_path), b"k" * 32)
    finally:
        stop.set()
        other.join()
    assert [pooled[f"a{n}"].member_count for n in range(30)] == [n + 1 for n in range(30)]
