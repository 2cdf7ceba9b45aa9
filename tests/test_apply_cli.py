"""`reconciler apply` as a command: saved plans, staleness, guards, approval, flags, no secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from apply_support import Project, cli, make_project, mutations, person

from reconciler.emulator import Emulator


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path, {"vip.csv": 20, "callers.csv": 5, "buyers.csv": 5})


def test_saved_plan_is_applied_once_then_stale(project: Project, emulator: Emulator, tmp_path: Path) -> None:
    planfile = tmp_path / "plan.json"
    assert cli("plan", "--out", str(planfile), *project.args()).code == 0
    first = cli("apply", str(planfile), *project.args())
    assert first.code == 0, first.out + first.err
    emulator.clear_log()
    second = cli("apply", str(planfile), *project.args())
    assert second.code == 1
    assert "empty state" in second.err and "plan" in second.err
    assert mutations(emulator.request_log) == []


def test_saved_plan_refused_when_a_source_moved(project: Project, emulator: Emulator, tmp_path: Path) -> None:
    planfile = tmp_path / "plan.json"
    assert cli("plan", "--out", str(planfile), *project.args()).code == 0
    project.rows["callers.csv"].append(person(40))
    project.write()
    result = cli("apply", str(planfile), *project.args())
    assert result.code == 1
    assert "callers.csv" in result.err
    assert emulator.request_log == []


def test_guard_refusal_exits_3_and_changes_nothing(project: Project, emulator: Emulator) -> None:
    assert cli("apply", "--auto-approve", *project.args()).code == 0
    project.rows["vip.csv"] = project.rows["vip.csv"][:5]  # 20 -> 5: over the 30% shrink guard
    project.write()
    emulator.clear_log()
    refused = cli("apply", "--auto-approve", *project.args())
    assert refused.code == 3, refused.out + refused.err
    assert "--allow-shrink vip" in refused.err
    assert mutations(emulator.request_log) == []
    allowed = cli("apply", "--auto-approve", "--allow-shrink", "vip", *project.args())
    assert allowed.code == 0, allowed.out + allowed.err
    assert [m[1] for m in mutations(emulator.request_log)] == ["PUT"]


def test_saved_plan_with_a_refusal_exits_3(project: Project, emulator: Emulator, tmp_path: Path) -> None:
    assert cli("apply", "--auto-approve", *project.args()).code == 0
    project.rows["vip.csv"] = project.rows["vip.csv"][:5]
    project.write()
    planfile = tmp_path / "plan.json"
    assert cli("plan", "--out", str(planfile), *project.args()).code == 3
    result = cli("apply", str(planfile), *project.args())
    assert result.code == 3 and "safety guard" in result.err


def test_non_interactive_without_auto_approve_is_refused(
    project: Project, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    result = cli("apply", *project.args())
    assert result.code == 1
    assert "--auto-approve" in result.err
    assert emulator.request_log == []
    assert not (project.state / "state.json").exists()


def test_interactive_answer_other_than_yes_cancels(
    project: Project, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    result = cli("apply", *project.args())
    assert result.code == 1 and "only 'yes'" in result.err
    assert emulator.request_log == []
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    assert cli("apply", *project.args()).code == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--parallelism", "0"], "at least 1"),
        (["plan.json", "--target", "vip"], "pass them to `reconciler plan`"),
        (["plan.json", "--sandbox"], "without PLANFILE"),
    ],
)
def test_usage_errors(project: Project, argv: list[str], message: str) -> None:
    result = cli("apply", *argv, *project.args())
    assert result.code == 1 and message in result.err
    assert "Traceback" not in result.err


def test_missing_token_fails_that_provider_only(
    project: Project, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMALLEST_API_KEY")
    result = cli("apply", "--auto-approve", *project.args())
    assert result.code == 1
    assert "SMALLEST_API_KEY" in result.out
    assert "2 succeeded, 1 failed" in result.out
    audiences = project.state_doc()["audiences"]
    assert sorted(audiences) == ["buyers", "vip"]  # every success is in state


def test_target_applies_only_that_audience(project: Project, emulator: Emulator) -> None:
    result = cli("apply", "--auto-approve", "--target", "callers", *project.args())
    assert result.code == 0, result.out + result.err
    assert {m[0] for m in mutations(emulator.request_log)} == {"smallest"}
    assert sorted(project.state_doc()["audiences"]) == ["callers"]


def test_no_token_or_member_data_in_anything_written(
    project: Project, emulator: Emulator, tmp_path: Path
) -> None:
    planfile = tmp_path / "plan.json"
    outputs = [cli("plan", "--out", str(planfile), *project.args())]
    outputs.append(cli("apply", str(planfile), *project.args()))
    project.rows["callers.csv"] = [person(i) for i in range(3, 9)]
    project.write()
    outputs.append(cli("apply", "--auto-approve", *project.args()))
    texts = [r.out + r.err for r in outputs]
    texts += [
        p.read_text(encoding="utf-8", errors="replace") for p in project.state.rglob("*") if p.is_file()
    ]
    texts.append(planfile.read_text(encoding="utf-8"))
    blob = "\n".join(texts)
    secrets = list(emulator.tokens.values())
    raw = project.all_raw_identities() + [person(i)["Email"] for i in range(9)]
    for value in secrets + raw:
        assert value not in blob
    assert any(r.code == 0 for r in outputs[1:])


def test_rejected_token_stops_that_provider(
    project: Project, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        project.audiences[f"callers-{n}"] = {**project.audiences["callers"], "name": f"Callers {n}"}
    project.write()
    monkeypatch.setenv("SMALLEST_API_KEY", "wrong-token")
    result = cli("apply", "--auto-approve", "--parallelism", "1", *project.args())
    assert result.code == 1
    assert "1 failed, 3 not attempted" in result.out
    assert "rejected the credentials" in result.out
    assert "wrong-token" not in result.out + result.err
    smallest = [r for r in emulator.request_log if r.provider == "smallest"]
    assert smallest and all(r.status == 401 for r in smallest)
    assert len(smallest) <= 2  # no hammering with a bad token
