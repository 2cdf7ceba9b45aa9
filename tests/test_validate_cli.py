"""`reconciler validate` and `reconciler schema` as users run them: exit codes, reports, rejects, limits."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands import validate
from reconciler.config.schema import load_schema
from reconciler.errors import Problem, SourceError
from reconciler.providers.smallest import Smallest

MAX_MEMBERS = Smallest.limits.max_members or 0

ROOT = Path(__file__).resolve().parent.parent
BROKEN = Path(__file__).resolve().parent / "fixtures" / "config" / "broken" / "audiences.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def phones(count: int) -> list[str]:
    """`count` distinct valid US numbers."""
    return [f"+1{202 + n // 10_000}555{n % 10_000:04d}" for n in range(count)]


def project(tmp_path: Path, provider: str, rows: list[str]) -> Path:
    """A one-audience project whose source has a Mobile column holding `rows` (and a Name column)."""
    (tmp_path / "data").mkdir(exist_ok=True)
    lines = ["Mobile,Name", *(f"{phone},N" for phone in rows)]
    (tmp_path / "data" / "m.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "audiences.yaml"
    config.write_text(
        "version: 1\ndefaults: {phone_region: US}\naudiences:\n"
        f"  a:\n    provider: {provider}\n    name: A\n    source: data/m.csv\n"
        "    columns: {phone: Mobile}\n",
        encoding="utf-8",
    )
    return config


Capsys = pytest.CaptureFixture[str]


def test_bundled_example_is_valid(capsys: Capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("WHOP_ACCOUNT_ID", raising=False)
    code, out, err = run(capsys, "validate")
    assert code == 0, err
    assert err == ""
    for key in ("vip-customers", "whop-buyers", "callers"):
        assert key in out
    assert "Valid: 3 audiences" in out


def test_bundled_example_shows_invalid_rows_and_duplicates(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = run(capsys, "validate", "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["valid"] is True and report["problems"] == []
    by_key = {a["key"]: a for a in report["audiences"]}
    for audience in by_key.values():
        assert audience["invalid"] > 0 and audience["duplicates"] > 0  # the example has something to show
        assert 20 <= audience["rows_read"] <= 60
        assert audience["rows_read"] == audience["valid"] + audience["invalid"]
        assert audience["members"] == audience["valid"] - audience["duplicates"]
        assert 1 <= len(audience["samples"]) <= validate.SAMPLES
        assert len(audience["source_sha256"]) == 64
    upload = by_key["callers"]["upload"]
    assert upload["members"] == by_key["callers"]["members"] and 0 < upload["bytes"] < upload["max_bytes"]
    assert by_key["vip-customers"]["upload"] is None


def test_text_report_matches_the_json_report(capsys: Capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    _, text, _ = run(capsys, "validate")
    _, raw, _ = run(capsys, "validate", "--format", "json")
    for audience in json.loads(raw)["audiences"]:
        assert f"{audience['rows_read']:,} read: {audience['valid']:,} valid" in text
        assert audience["source_sha256"] in text
        for sample in audience["samples"]:
            assert sample in text


def test_broken_declaration_exits_1_listing_every_problem(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", "-c", str(BROKEN))
    assert code == 1 and out == ""
    listed = [line.strip() for line in err.splitlines() if line.startswith("  ")]
    assert len(listed) >= 25
    for line in listed:
        assert line.startswith(f"{BROKEN}:"), line
        _, line_no, col, _ = line.split(":", 3)
        assert int(line_no) > 0 and int(col) > 0
    assert "Traceback" not in err


def test_broken_declaration_json_lists_problems(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", "-c", str(BROKEN), "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["valid"] is False
    assert len(report["problems"]) == len([line for line in err.splitlines() if line.startswith("  ")])
    assert all(p["line"] > 0 and p["col"] > 0 for p in report["problems"])


def test_missing_config_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "validate", "-c", str(tmp_path / "audiences.yaml"))
    assert code == 1 and "no such file" in err


def test_audience_without_valid_members_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = project(tmp_path, "commbox", ["not a phone", "", "12"])
    code, out, err = run(capsys, "validate", "-c", str(config))
    assert code == 1
    assert "has no valid members" in err and f"{config}:4:3:" in err
    assert "3 read: 0 valid, 3 invalid" in out


def test_invalid_rows_alone_do_not_fail(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = project(tmp_path, "commbox", ["+12025550100", "not a phone"])
    code, out, _ = run(capsys, "validate", "-c", str(config))
    assert code == 0 and "1 invalid" in out


def test_smallest_member_limit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = phones(MAX_MEMBERS + 1)
    config = project(tmp_path, "smallest", rows)
    code, _, err = run(capsys, "validate", "-c", str(config))
    assert code == 1
    assert "would have 10,001 members" in err and "at most 10,000" in err
    code, _, _ = run(capsys, "validate", "-c", str(project(tmp_path, "commbox", rows)))
    assert code == 0  # CommBox has no such limit


def test_smallest_exactly_at_the_member_limit_is_valid(capsys: Capsys, tmp_path: Path) -> None:
    rows = phones(MAX_MEMBERS)
    rows.append(rows[0])  # a duplicate does not count
    code, out, err = run(capsys, "validate", "-c", str(project(tmp_path, "smallest", rows)))
    assert code == 0, err
    assert "10,000 members (limits" in out


def test_smallest_upload_size_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = phones(100)
    config = project(tmp_path, "smallest", rows)
    code, out, _ = run(capsys, "validate", "-c", str(config), "--format", "json")
    size = json.loads(out)["audiences"][0]["upload"]["bytes"]
    monkeypatch.setattr(Smallest, "limits", dataclasses.replace(Smallest.limits, max_upload_bytes=size - 1))
    code, _, err = run(capsys, "validate", "-c", str(config))
    assert code == 1 and f"would be {size:,} bytes" in err
    monkeypatch.setattr(Smallest, "limits", dataclasses.replace(Smallest.limits, max_upload_bytes=size))
    assert run(capsys, "validate", "-c", str(config))[0] == 0


def test_rejects_file_lists_every_rejected_row(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = project(tmp_path, "commbox", ["+12025550100", "bad", "", "+12025550101", "555"])
    dest = tmp_path / "rejects.csv"
    code, out, _ = run(capsys, "validate", "-c", str(config), "--rejects", str(dest))
    assert code == 0 and str(dest) in out
    with open(dest, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["audience"], r["row"]) for r in rows] == [("a", "3"), ("a", "4"), ("a", "6")]
    assert {r["reason"] for r in rows} == {"invalid_phone", "missing_phone"}


def test_unwritable_rejects_file_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = project(tmp_path, "commbox", ["+12025550100"])
    code, _, err = run(capsys, "validate", "-c", str(config), "--rejects", str(tmp_path / "no" / "dir.csv"))
    assert code == 1 and "cannot write rejects file" in err


def test_schema_command_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    assert json.loads(out) == load_schema()
    assert json.loads((ROOT / "reconciler" / "schema" / "audiences.schema.json").read_text()) == load_schema()


def test_as_a_user_runs_it_no_traceback(tmp_path: Path) -> None:
    """A real process: `python -m reconciler validate` on a broken file exits 1 with no traceback."""
    config = tmp_path / "audiences.yaml"
    config.write_text("version: 1\naudiences:\n  a: {provider: commbox, name: [\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "-c", str(config)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and f"{config}:" in done.stderr


def test_source_failing_during_the_scan_is_a_located_problem(
    capsys: Capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source whose header reads but whose body fails (e.g. damaged later on) fails validation."""
    config = project(tmp_path, "commbox", ["+12025550100"])

    def damaged(spec: object, key: bytes) -> None:
        raise SourceError("cannot read source data/m.csv", problems=[Problem("data/m.csv", 7, 0, "damaged")])

    monkeypatch.setattr(validate, "scan_source", damaged)
    code, _, err = run(capsys, "validate", "-c", str(config))
    assert code == 1
    assert f"{config}:4:3: audience 'a': source cannot be read: data/m.csv:7: damaged" in err


def test_invalid_encoding_is_reported_with_its_row(capsys: Capsys, tmp_path: Path) -> None:
    config = project(tmp_path, "commbox", ["+12025550100"])
    with open(tmp_path / "data" / "m.csv", "ab") as handle:
        handle.write(b"+12025550101,\xff\xfe\n")
    code, _, err = run(capsys, "validate", "-c", str(config))
    assert code == 1 and "data/m.csv:3:" in err and "encoding" in err


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def test_forbid_tracked_sources_fails_only_when_git_tracks_a_source(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = project(tmp_path, "commbox", phones(3))
    _git(tmp_path, "init", "-q")
    code, _, _ = run(capsys, "validate", "-c", str(config), "--forbid-tracked-sources")
    assert code == 0  # nothing tracked yet
    _git(tmp_path, "add", "data/m.csv")
    code, _out, err = run(capsys, "validate", "-c", str(config), "--forbid-tracked-sources")
    assert code == 1
    assert "data/m.csv is tracked by git" in err
    assert "audiences.yaml:" in err  # located at the audience
    code, _, _ = run(capsys, "validate", "-c", str(config))  # the check is opt-in
    assert code == 0


def _limit_lines(err: str) -> list[str]:
    """The located limit messages of a run's stderr (file:line:col: audience 'a' ...)."""
    return [line.strip() for line in err.splitlines() if "audience 'a'" in line]


def test_plan_checks_the_member_limit_of_a_create_like_validate(capsys: Capsys, tmp_path: Path) -> None:
    config = project(tmp_path, "smallest", phones(10_050))
    code, _, validated = run(capsys, "validate", "-c", str(config))
    assert code == 1
    code, out, planned = run(capsys, "plan", "-c", str(config))
    assert code == 1 and out == ""
    assert "would have 10,050 members" in planned and "at most 10,000" in planned
    assert _limit_lines(planned) == _limit_lines(validated)
    assert not (tmp_path / "state").exists()  # refused before anything else


def test_plan_checks_the_upload_size_of_a_replacement(
    capsys: Capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = project(tmp_path, "commbox", phones(100))
    state = tmp_path / "state"
    applied = run(capsys, "apply", "--sandbox", "--auto-approve", "-c", str(config), "--state", str(state))
    assert applied[0] == 0
    # the audience moves to Smallest: a replacement, whose upload is over a (lowered) byte limit
    config.write_text(config.read_text(encoding="utf-8").replace("commbox", "smallest"), encoding="utf-8")
    size = json.loads(run(capsys, "validate", "-c", str(config), "--format", "json")[1])["audiences"][0]
    monkeypatch.setattr(Smallest, "limits", dataclasses.replace(Smallest.limits, max_upload_bytes=100))
    code, _, validated = run(capsys, "validate", "-c", str(config))
    code_plan, _, planned = run(capsys, "plan", "-c", str(config), "--state", str(state / ".sandbox"))
    assert code == code_plan == 1
    assert f"upload file would be {size['upload']['bytes']:,} bytes" in planned
    assert _limit_lines(planned) == _limit_lines(validated)
