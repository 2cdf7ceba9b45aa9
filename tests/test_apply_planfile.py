"""`apply PLANFILE` verifies a saved plan: it re-derives the plan from the file's pinned inputs and
refuses a file that says anything else, names an edit by its checksum, and refuses a file of any
hostile structure with one clean error. Tried from outside, over real HTTP against the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from apply_support import Project, Result, cli, make_project, mutations, person

from reconciler.emulator import Emulator


@pytest.fixture
def project(tmp_path: Path) -> Project:
    made = make_project(tmp_path, {"vip.csv": 20, "callers.csv": 5, "buyers.csv": 5})
    made.audiences["callers"]["protect"] = True
    made.write()
    return made


def _applied_then_planned(project: Project, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """Apply everything, add a member to callers, save the plan (an update of callers)."""
    assert cli("apply", "--auto-approve", *project.args()).code == 0
    project.rows["callers.csv"].append(person(30))
    project.write()
    planfile = tmp_path / "plan.json"
    made = cli("plan", "--out", str(planfile), *project.args())
    assert made.code == 0, made.out + made.err
    doc = json.loads(planfile.read_text(encoding="utf-8"))
    callers = next(c for c in doc["changes"] if c["address"] == "callers")
    assert (callers["action"], callers["strategy"]) == ("update", "add_remove_members")
    return planfile, doc


def _resign(project: Project, doc: dict[str, Any]) -> None:
    """Re-sign an edited document as only a holder of the state's fingerprint key could."""
    from reconciler.planning.planfile import checksum, checksum_key

    stored = project.state_doc()["fingerprint_key"]
    doc["checksum"] = checksum(doc, checksum_key(stored.encode("utf-8")))


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")


def _refused_cleanly(result: Result) -> None:
    assert result.code == 1, result.out + result.err
    assert result.err.startswith("Error: ")
    assert "Internal error" not in result.err and "Traceback" not in result.err


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _callers(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["changes"] if c["address"] == "callers")


def test_an_edited_action_is_refused_not_obeyed(project: Project, emulator: Emulator, tmp_path: Path) -> None:
    planfile, doc = _applied_then_planned(project, tmp_path)
    _callers(doc).update(action="delete", strategy="delete", reasons=["removed_from_config"])
    doc["summary"].update(update=0, delete=1)
    _write(planfile, doc)
    state_before = project.state_doc()
    emulator.clear_log()
    result = cli("apply", str(planfile), *project.args())
    _refused_cleanly(result)
    assert "edited after it was made" in result.err
    assert 'change callers: action is "delete" in the plan file but "update" from its inputs' in result.err
    assert mutations(emulator.request_log) == []
    assert project.state_doc() == state_before


def test_a_re_signed_edit_is_still_refused(project: Project, emulator: Emulator, tmp_path: Path) -> None:
    """Whoever holds the key can make the checksum match; the re-derivation still refuses."""
    planfile, doc = _applied_then_planned(project, tmp_path)
    _callers(doc).update(action="delete", strategy="delete")
    _resign(project, doc)
    _write(planfile, doc)
    emulator.clear_log()
    result = cli("apply", str(planfile), *project.args())
    _refused_cleanly(result)
    assert "differs from the plan its inputs produce" in result.err
    assert 'action is "delete" in the plan file but "update" from its inputs' in result.err
    assert mutations(emulator.request_log) == []


def _apply_edited(project: Project, emulator: Emulator, tmp_path: Path, edit: Any) -> Result:
    """Apply a saved plan that `edit` changed and re-signed: refused cleanly, nothing sent."""
    planfile, doc = _applied_then_planned(project, tmp_path)
    edit(doc)
    _resign(project, doc)
    _write(planfile, doc)
    emulator.clear_log()
    result = cli("apply", str(planfile), *project.args())
    _refused_cleanly(result)
    assert mutations(emulator.request_log) == []
    return result


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: _callers(d).update(strategy="drop_everything"),
         'change callers: strategy is "drop_everything" in the plan file but "add_remove_members"'),
        (lambda d: _callers(d)["members"].update(added=0, after=5),
         "change callers: members.added is 0 in the plan file but 1 from its inputs"),
        (lambda d: _callers(d).update(guard={"rule": "shrink", "message": "x", "allow_flag": "y"}),
         "change callers: guard is"),
        (lambda d: d["summary"].update(create=4),
         "summary.create is 4 in the plan file but 0 from its inputs"),
        (lambda d: d["changes"].pop(), "from its inputs is missing from the plan file"),
        (lambda d: d["changes"].append(dict(d["changes"][0])), "appears more than once in the plan file"),
        (lambda d: d["inputs"].update(sources={}), "inputs.sources."),
        (lambda d: d["inputs"].update(targets=["callers"]),
         "change buyers is in the plan file but not from its inputs"),
    ],
)
def test_every_kind_of_difference_is_named(
    project: Project, emulator: Emulator, tmp_path: Path, edit: Any, named: str
) -> None:
    result = _apply_edited(project, emulator, tmp_path, edit)
    assert named in result.err


def test_an_edit_outside_the_changes_is_named_an_edit(
    project: Project, emulator: Emulator, tmp_path: Path
) -> None:
    planfile, doc = _applied_then_planned(project, tmp_path)
    doc["created_at"] = "2001-01-01T00:00:00Z"
    _write(planfile, doc)
    result = cli("apply", str(planfile), *project.args())
    _refused_cleanly(result)
    assert "the plan file was edited after it was made" in result.err


def test_the_checksum_reveals_nothing_of_the_key(
    project: Project, emulator: Emulator, tmp_path: Path
) -> None:
    from reconciler.planning.planfile import checksum, checksum_key

    _, doc = _applied_then_planned(project, tmp_path)
    stored = project.state_doc()["fingerprint_key"]
    assert stored not in json.dumps(doc)
    assert doc["checksum"].startswith("hmac-sha256:")
    assert doc["checksum"] != checksum(doc, checksum_key(None))  # keyed, not the public fallback


def test_a_verified_plan_applies_with_its_recorded_flags(
    project: Project, emulator: Emulator, tmp_path: Path
) -> None:
    """--allow-destroy is an input of the plan: recorded, re-derived with it, and applied."""
    assert cli("apply", "--auto-approve", *project.args()).code == 0
    project.audiences["callers"]["name"] = "Callers renamed"  # Smallest cannot rename: replace
    project.write()
    planfile = tmp_path / "plan.json"
    assert cli("plan", "--out", str(planfile), *project.args()).code == 3
    assert cli("apply", str(planfile), *project.args()).code == 3
    assert cli("plan", "--out", str(planfile), "--allow-destroy", "callers", *project.args()).code == 0
    result = cli("apply", str(planfile), *project.args())
    assert result.code == 0, result.out + result.err
    assert project.state_doc()["audiences"]["callers"]["name"] == "Callers renamed"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format_version": "1", "changes": []}', "no checksum"),
        ('{"format_version": "1", "changes": [], "checksum": "x"}', "malformed plan"),
        ('{"format_version": ["1"], "changes": []}', "is not supported"),
        ('{"format_version": "1", "changes": [], "x": ' + "1" * 5000 + "}", "invalid JSON"),
        ('{"format_version": "1", "changes": [], "x": NaN}', "invalid JSON"),
        ('{"format_version": "1", "changes": [], "x": 1e999}', "invalid JSON"),
        ('{"format_version": "1", "changes": ' + "[" * 100_000 + "]" * 100_000 + "}", "invalid JSON"),
    ],
)
def test_hostile_documents_give_one_clean_error(project: Project, tmp_path: Path, text: str,
                                                 message: str) -> None:
    planfile = tmp_path / "plan.json"
    planfile.write_text(text, encoding="utf-8")
    result = cli("apply", str(planfile), *project.args())
    _refused_cleanly(result)
    assert message in result.err


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: _callers(d)["members"].update(before="20"), "changes[1].members.before: expected a whole"),
        (lambda d: _callers(d)["members"].update(removed=10**30), "changes[1].members.removed: expected"),
        (lambda d: _callers(d)["members"].update(added=True), "changes[1].members.added: expected a whole"),
        (lambda d: _callers(d)["members"].update(added=-1), "changes[1].members.added: expected a whole"),
        (lambda d: _callers(d).pop("members"), "changes[1].members: missing"),
        (lambda d: _callers(d).update(action="obliterate"), "changes[1].action: expected one of"),
        (lambda d: _callers(d).update(action=[]), "changes[1].action: expected one of"),
        (lambda d: _callers(d)["attribute_changes"].update(x={"before": _nested(900), "after": 1}),
         "changes[1].attribute_changes.x.before: nested more than"),
        (lambda d: _callers(d).update(guard=[]), "changes[1].guard: expected an object"),
        (lambda d: d["inputs"].update(sources=[]), "inputs.sources: expected an object"),
        (lambda d: d["inputs"].pop("state_serial"), "inputs.state_serial: missing"),
        (lambda d: d.update(changes={}), "changes: expected a list"),
        (lambda d: d.update(inputs=None), "inputs: expected an object"),
        (lambda d: d["inputs"].update(config=7), "inputs.config: expected text"),
        (lambda d: d["inputs"].update(refresh="yes"), "inputs.refresh: expected true or false"),
        (lambda d: d["inputs"].update(targets=["\x1b[31mred"]), "the plan file's inputs do not fit"),
    ],
)
def test_hostile_structure_gives_one_clean_error(
    project: Project, emulator: Emulator, tmp_path: Path, edit: Any, message: str
) -> None:
    result = _apply_edited(project, emulator, tmp_path, edit)
    assert message in result.err
    assert "\x1b" not in result.err


def test_a_plan_made_with_refresh_is_re_derived_by_reading_the_providers(
    project: Project, emulator: Emulator, tmp_path: Path
) -> None:
    assert cli("apply", "--auto-approve", *project.args()).code == 0
    project.audiences["buyers"]["name"] = "Whop buyers renamed"
    project.write()
    planfile = tmp_path / "plan.json"
    assert cli("plan", "--refresh", "--out", str(planfile), *project.args()).code == 0
    assert json.loads(planfile.read_text(encoding="utf-8"))["inputs"]["refresh"] is True
    emulator.clear_log()
    result = cli("apply", str(planfile), *project.args())
    assert result.code == 0, result.out + result.err
    reads = [r for r in emulator.request_log if r.method == "GET" and r.provider != "whop-upload"]
    assert reads, "the re-derivation reads the providers as plan --refresh did"
    assert project.state_doc()["audiences"]["buyers"]["name"] == "Whop buyers renamed"


def test_a_plan_made_with_rescan_is_re_derived_reading_every_source(
    project: Project, emulator: Emulator, tmp_path: Path
) -> None:
    """Unchanged sources are planned from state unless --rescan: the saved plan says which."""
    planfile, _ = _applied_then_planned(project, tmp_path)
    assert cli("plan", "--rescan", "--out", str(planfile), *project.args()).code == 0
    doc = json.loads(planfile.read_text(encoding="utf-8"))
    assert doc["inputs"]["rescan"] is True
    result = cli("apply", str(planfile), *project.args())
    assert result.code == 0, result.out + result.err
    refused = cli("apply", str(planfile), "--rescan", *project.args())
    assert refused.code == 1 and "--rescan shape a plan" in refused.err
