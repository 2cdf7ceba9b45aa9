"""`reconciler plan` and `reconciler show` as users run them: exit codes, files, formats, no PII."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from planhelpers import apply_project, phone, write_csv, write_project

from reconciler.cli import main


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RECONCILER_FINGERPRINT_KEY", raising=False)
    monkeypatch.delenv("WHOP_ACCOUNT_ID", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    for var in ("COMMBOX_API_TOKEN", "WHOP_API_KEY", "SMALLEST_API_KEY"):
        monkeypatch.delenv(var, raising=False)  # plan is offline: needs no token
    return write_project(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_exit_codes_for_changes(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", "-c", str(config))
    assert code == 0 and out.rstrip().endswith("Plan: 3 to create, 0 to update, 0 to replace, 0 to delete.")
    code, _, _ = run(capsys, "plan", "-c", str(config), "--detailed-exitcode")
    assert code == 2
    apply_project(config)
    code, out, _ = run(capsys, "plan", "-c", str(config), "--detailed-exitcode")
    assert code == 0 and "No changes." in out


def test_plan_is_read_only(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apply_project(config)
    state_dir = config.parent / "state"
    before = {p: p.read_bytes() for p in state_dir.rglob("*") if p.is_file()}
    write_csv(config.parent / "data/vip.csv", "Mobile,First", [f"{phone(1)},X"])
    run(capsys, "plan", "-c", str(config), "--allow-shrink", "vip")
    after = {p: p.read_bytes() for p in state_dir.rglob("*") if p.is_file()}
    assert before == after


def test_guard_refusal_exits_3_and_is_shown(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apply_project(config)
    write_csv(config.parent / "data/callers.csv", "Phone", [phone(i) for i in range(100, 105)])
    code, out, err = run(capsys, "plan", "-c", str(config), "--detailed-exitcode")
    assert code == 3
    assert "Refused by safety guards (1)" in out and "--allow-shrink callers" in out
    assert "Refused by safety guard" in err
    code, out, _ = run(capsys, "plan", "-c", str(config), "--allow-shrink", "callers", "--detailed-exitcode")
    assert code == 2 and "Refused" not in out


def test_protected_audience_removed_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("RECONCILER_FINGERPRINT_KEY", raising=False)
    config = write_project(tmp_path, protect=True)
    apply_project(config)
    text = config.read_text()
    config.write_text(text[: text.index("  callers:")] + text[text.index("  buyers:"):])
    code, out, _ = run(capsys, "plan", "-c", str(config))
    assert code == 3 and "--allow-destroy callers" in out and "- delete" in out
    code, _, _ = run(capsys, "plan", "-c", str(config), "--allow-destroy", "callers")
    assert code == 0


def test_out_and_show_agree(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    planfile = tmp_path / "plan.json"
    code, text_out, _ = run(capsys, "plan", "-c", str(config), "--out", str(planfile))
    assert code == 0 and planfile.exists()
    saved = json.loads(planfile.read_text())
    assert saved["format_version"] == "1" and saved["summary"]["create"] == 3
    _, shown_json, _ = run(capsys, "show", str(planfile), "--format", "json")
    assert saved.pop("checksum").startswith("hmac-sha256:")
    assert json.loads(shown_json) == saved
    _, shown_text, _ = run(capsys, "show", str(planfile))
    assert shown_text == text_out
    _, shown_md, _ = run(capsys, "show", str(planfile), "--format", "markdown")
    assert shown_md.startswith("### reconciler plan") and shown_md.count("<details>") == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such plan file"),
        ("{not json", "invalid JSON"),
        ('{"format_version": "9", "changes": []}', "format_version '9' is not supported"),
        ('{"format_version": "1", "changes": [{"address": "a"}], "checksum": "x"}', "malformed plan"),
        ('{"format_version": "1", "changes": []}', "no checksum"),
        ("[1, 2]", "not a reconciler plan"),
    ],
)
def test_show_bad_plan_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None,
                             message: str) -> None:
    planfile = tmp_path / "plan.json"
    if content is not None:
        planfile.write_text(content)
    code, out, err = run(capsys, "show", str(planfile))
    assert code == 1 and out == ""
    assert message in err and str(planfile) in err


def test_usage_errors(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan", "-c", str(config), "--target", "nope")
    assert code == 1 and "nope" in err
    code, _, err = run(capsys, "plan", "-c", str(config), "--target", "vip", "--replace", "buyers")
    assert code == 1 and "outside --target" in err


def test_replace_flag(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apply_project(config)
    code, out, _ = run(capsys, "plan", "-c", str(config), "--replace", "buyers", "--format", "json")
    doc = json.loads(out)
    buyers = next(c for c in doc["changes"] if c["address"] == "buyers")
    assert (buyers["action"], buyers["reasons"], buyers["strategy"]) == (
        "replace", ["replace_requested"], "create_then_delete")
    assert doc["inputs"]["replace"] == ["buyers"] and code == 0


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_no_output_holds_a_phone_or_email(config: Path, tmp_path: Path, fmt: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    apply_project(config)
    bad = ["+1212555", "not-a-phone-12345678", "broken@"]
    write_csv(config.parent / "data/vip.csv", "Mobile,First",
              [f"{phone(i)},N{i}" for i in range(2, 14)] + [f"{b},Bad" for b in bad])
    write_csv(config.parent / "data/buyers.csv", "Email,First", ["USER1@example.com ,B1", "x@@y,Bad"])
    planfile = tmp_path / "p.json"
    _, out, err = run(capsys, "plan", "-c", str(config), "--format", fmt, "--out", str(planfile))
    everything = out + err + planfile.read_text()
    for i in range(0, 200):
        assert phone(i) not in everything and phone(i)[1:] not in everything
    for i in range(0, 10):
        assert f"user{i}@example.com" not in everything.lower()
    assert "not-a-phone-12345678" not in everything and "x@@y" not in everything
    assert "invalid" in everything  # the invalid rows are reported, masked


def test_colour_only_when_allowed(config: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, plain, _ = run(capsys, "plan", "-c", str(config))
    assert code == 0 and "\x1b[" not in plain
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    _, coloured, _ = run(capsys, "plan", "-c", str(config))
    assert "\x1b[" in coloured and "+ create" in coloured
    monkeypatch.setenv("NO_COLOR", "1")  # NO_COLOR wins over FORCE_COLOR
    _, again, _ = run(capsys, "plan", "-c", str(config))
    assert again == plain


def test_out_to_missing_directory_is_a_clean_error(config: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "no" / "such" / "plan.json"
    code, _, err = run(capsys, "plan", "-c", str(config), "--out", str(target))
    assert code == 1 and f"cannot write the plan to {target}" in err
    assert not target.parent.exists()
