"""Plan cost grows with the change: unchanged sources are hashed, not parsed (issue #12).

An audience whose source bytes, settings and normaliser identity equal what state recorded at its
last apply plans as a no-op from state. These tests prove which audiences are parsed by counting
calls of the scanner and of the source reader (not by timing)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apply_support import cli, make_project
from planhelpers import apply_project, phone, spec, write_csv, write_project

from reconciler.config.model import SourceSpec
from reconciler.emulator import Emulator
from reconciler.errors import StateError
from reconciler.planning import engine, records
from reconciler.planning.reuse import UNCHANGED_NOTE
from reconciler.sources import csvread, scan
from reconciler.state.data import decode_state, encode_state
from reconciler.state.store import AudienceState, State, StateStore

KEY = b"k" * 32


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RECONCILER_FINGERPRINT_KEY", raising=False)
    monkeypatch.delenv("WHOP_ACCOUNT_ID", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    path = write_project(tmp_path)
    write_csv(tmp_path / "data/vip.csv", "Mobile,First",
              [f"{phone(i)},Name{i}" for i in range(10)] + ["not a phone,Bad", f"{phone(1)},Again"])
    return path


@dataclasses.dataclass
class Reads:
    """Which sources were scanned (parsed) and which were opened as text, by file name."""

    scanned: Counter[str] = dataclasses.field(default_factory=Counter)
    opened: Counter[str] = dataclasses.field(default_factory=Counter)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    """Count scans (`scan_source`) and every text open of a source (`csvread._open_text`, which
    both the header check and the scanner go through). Plans here have fewer than 24 sources, so
    every scan runs in this process."""
    seen = Reads()
    real_scan, real_open = scan.scan_source, csvread._open_text

    def counting_scan(spec: Any, key: bytes, **kwargs: Any) -> Any:
        seen.scanned[spec.source.path.name] += 1
        return real_scan(spec, key, **kwargs)

    def counting_open(source: SourceSpec) -> Any:
        seen.opened[source.path.name] += 1
        return real_open(source)

    monkeypatch.setattr(engine, "scan_source", counting_scan)
    monkeypatch.setattr(csvread, "_open_text", counting_open)
    yield seen


def plan_json(config: Path, *flags: str) -> dict[str, Any]:
    result = cli("plan", "-c", str(config), "--format", "json", *flags)
    assert result.code == 0, result.out + result.err
    return dict(json.loads(result.out))


def by_key(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["address"]: c for c in doc["changes"]}


# -- what apply records ------------------------------------------------------------------------


def test_apply_records_normaliser_digest_and_row_counts(tmp_path: Path, emulator: Emulator) -> None:
    project = make_project(tmp_path, {"vip.csv": 4})
    project.rows["vip.csv"].append(dict(project.rows["vip.csv"][0]))  # a duplicate row
    project.write()
    result = cli("apply", "--auto-approve", *project.args())
    assert result.code == 0, result.out + result.err
    loaded = engine.load_project(project.config, project.state)
    vip = project.state_doc()["audiences"]["vip"]
    declared = loaded.declaration.audiences["vip"]
    assert vip["normaliser_digest"] == records.normaliser_digest(declared, loaded.key)
    assert vip["rows"] == {"read": 5, "valid": 5, "invalid": 0, "invalid_by_reason": {}, "duplicates": 1,
                           "conflicting_duplicates": 0}
    assert "phone" not in json.dumps(vip["rows"])  # counts only


def test_state_codec_round_trips_the_new_fields_and_omits_them_when_unknown() -> None:
    rows = {"read": 3, "valid": 2, "invalid": 1, "invalid_by_reason": {"invalid_phone": 1}, "duplicates": 0,
            "conflicting_duplicates": 0}
    entry = AudienceState("vip", "commbox", "1", "VIP", normaliser_digest="ab" * 32, rows=rows)
    state = State(lineage="l-1", serial=1, fingerprint_key="cd" * 32, audiences={"vip": entry})
    assert decode_state(json.loads(encode_state(state))).audiences["vip"] == entry
    bare = State(lineage="l-1", serial=1, fingerprint_key="cd" * 32,
                 audiences={"vip": AudienceState("vip", "commbox", "1", "VIP")})
    encoded = encode_state(bare).decode()
    assert "rows" not in encoded and "normaliser_digest" not in encoded


@pytest.mark.parametrize("bad", [{"read": -1}, {"read": "3"}, {"invalid_by_reason": {"x": -2}}, {"other": 1}])
def test_state_rejects_malformed_row_counts(tmp_path: Path, bad: dict[str, Any]) -> None:
    rows = {"read": 3, "valid": 2, "invalid": 1, "invalid_by_reason": {}, "duplicates": 0,
            "conflicting_duplicates": 0, **bad}
    entry = AudienceState("vip", "commbox", "1", "VIP", normaliser_digest="ab" * 32, rows=rows)
    state = State(lineage="l", serial=1, fingerprint_key="cd" * 32, audiences={"vip": entry})
    doc = json.loads(encode_state(state))
    directory = tmp_path / "state"
    directory.mkdir()
    (directory / "state.json").write_text(json.dumps(doc, indent=2))
    with pytest.raises(StateError, match=r"audiences\.vip\.rows"):
        StateStore(directory).load()


# -- the normaliser identity -------------------------------------------------------------------


def _source(**options: Any) -> SourceSpec:
    return SourceSpec(path=Path("/p/data/a.csv"), display="data/a.csv", **options)


@pytest.mark.parametrize(
    "changed",
    [
        {"columns": {"phone": "Phone", "first_name": "First"}},
        {"columns": {"phone": "Mobile"}},
        {"phone_region": "GB"},
        {"provider": "whop"},  # Whop accepts rows without a phone: another validation rule
        {"source": _source(delimiter=";")},
        {"source": _source(encoding="cp1252")},
        {"source": SourceSpec(path=Path("/p/data/a.xlsx"), display="data/a.xlsx", sheet="Other")},
    ],
)
def test_a_setting_that_changes_rows_changes_the_normaliser_identity(changed: dict[str, Any]) -> None:
    base = spec("a", source=_source())
    other = dataclasses.replace(base, **changed)
    assert records.normaliser_digest(other, KEY) != records.normaliser_digest(base, KEY)


def test_settings_that_do_not_change_rows_keep_the_identity() -> None:
    base = spec("a", source=_source())
    for changed in ({"name": "Other"}, {"protect": True}, {"max_shrink": 0.9}, {"shrink_min_members": 1},
                    {"source": SourceSpec(path=Path("/p/b.csv"), display="b.csv")}):
        other = dataclasses.replace(base, **changed)
        assert records.normaliser_digest(other, KEY) == records.normaliser_digest(base, KEY)


def test_versions_and_key_are_part_of_the_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    base = spec("a", source=_source())
    before = records.normaliser_digest(base, KEY)
    assert records.normaliser_digest(base, b"another key") != before
    identity = records.normaliser_identity(base, KEY)
    assert KEY.decode() not in json.dumps(identity)  # only an HMAC check value of the key
    monkeypatch.setattr(records.phonenumbers, "__version__", "0.0.1")
    assert records.normaliser_digest(base, KEY) != before
    monkeypatch.undo()
    monkeypatch.setattr(records, "NORMALISATION_VERSION", 999)
    assert records.normaliser_digest(base, KEY) != before


# -- what plan parses --------------------------------------------------------------------------


def test_unchanged_sources_are_hashed_never_parsed(
    config: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_project(config)
    reads.scanned.clear()
    reads.opened.clear()
    hashed: Counter[str] = Counter()
    real_facts = engine.find_unchanged.__globals__["file_facts"]

    def counting_facts(path: str) -> tuple[str, bool]:
        hashed[Path(path).name] += 1
        return real_facts(path)

    monkeypatch.setitem(engine.find_unchanged.__globals__, "file_facts", counting_facts)
    doc = plan_json(config)
    assert reads.scanned == Counter() and reads.opened == Counter()  # not even for its header row
    assert hashed == Counter({"vip.csv": 1, "callers.csv": 1, "buyers.csv": 1})
    assert doc["summary"]["no-op"] == 3
    vip = by_key(doc)["vip"]
    assert vip["rows"]["note"] == UNCHANGED_NOTE
    assert vip["rows"]["samples"] == []  # no samples are stored
    assert (vip["rows"]["read"], vip["rows"]["valid"], vip["rows"]["duplicates"]) == (12, 11, 1)
    assert vip["members"] == {"before": 10, "after": 10, "added": 0, "removed": 0, "changed": 0}


def test_a_changed_byte_parses_that_source_only(config: Path, reads: Reads) -> None:
    apply_project(config)
    path = config.parent / "data/callers.csv"
    path.write_bytes(path.read_bytes().replace(b"0100", b"0101", 1))  # one digit: one member moved
    reads.scanned.clear()
    doc = plan_json(config)
    assert reads.scanned == Counter({"callers.csv": 1})
    callers = by_key(doc)["callers"]
    assert callers["action"] == "update" and "note" not in callers["rows"]
    assert callers["members"]["added"] == 0 and callers["members"]["removed"] == 1


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("name: VIP customers", "name: VIP"),  # settings record
        ("source: data/vip.csv", "source: data/vip.csv\n    phone_region: GB"),  # normaliser identity
        ("columns: {phone: Mobile, first_name: First}", "columns: {phone: Mobile}"),
    ],
)
def test_a_changed_setting_parses_the_source(config: Path, reads: Reads, old: str, new: str) -> None:
    apply_project(config)
    config.write_text(config.read_text().replace(old, new))
    reads.scanned.clear()
    doc = plan_json(config)
    assert reads.scanned == Counter({"vip.csv": 1})
    assert "note" not in by_key(doc)["vip"]["rows"]  # (its numbers carry +1: still a no-op with GB)


def test_a_guard_setting_alone_parses_nothing(config: Path, reads: Reads) -> None:
    apply_project(config)
    text = config.read_text()
    config.write_text(text.replace("source: data/vip.csv", "source: data/vip.csv\n    protect: true"))
    reads.scanned.clear()
    assert plan_json(config)["summary"]["no-op"] == 3
    assert reads.scanned == Counter()


def test_another_normaliser_version_parses_every_source(
    config: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_project(config)
    installed = records.phonenumbers.__version__
    monkeypatch.setattr(records.phonenumbers, "__version__", "99.0.0")  # a library upgrade
    reads.scanned.clear()
    doc = plan_json(config)
    assert reads.scanned == Counter({"vip.csv": 1, "callers.csv": 1, "buyers.csv": 1})
    assert all("note" not in c["rows"] for c in doc["changes"])
    monkeypatch.setattr(records.phonenumbers, "__version__", installed)
    reads.scanned.clear()
    plan_json(config)
    assert reads.scanned == Counter()
    monkeypatch.setattr(records, "NORMALISATION_VERSION", records.NORMALISATION_VERSION + 1)
    reads.scanned.clear()
    plan_json(config)
    assert len(reads.scanned) == 3


def test_rescan_parses_every_source_and_plans_the_same(config: Path, reads: Reads) -> None:
    apply_project(config)
    reads.scanned.clear()
    rescanned = plan_json(config, "--rescan")
    assert reads.scanned == Counter({"vip.csv": 1, "callers.csv": 1, "buyers.csv": 1})
    reused = plan_json(config)
    assert by_key(rescanned)["vip"]["rows"]["samples"]  # a parsed source shows masked samples
    assert (rescanned["inputs"].pop("rescan"), reused["inputs"].pop("rescan")) == (True, False)
    for doc in (rescanned, reused):
        doc.pop("created_at")
        for change in doc["changes"]:
            change["rows"].pop("note", None)
            change["rows"]["samples"] = []
    assert reused == rescanned


def test_pending_intent_or_replace_parses(config: Path, reads: Reads) -> None:
    state = apply_project(config)
    reads.scanned.clear()
    result = cli("plan", "-c", str(config), "--replace", "buyers", "--format", "json")
    assert result.code == 0, result.err
    assert reads.scanned == Counter({"buyers.csv": 1})
    state.add_intent("vip", "commbox", "replace_members", "VIP customers", provider_id="id-vip")
    engine.load_project(config, config.parent / "state").store.save(state)
    reads.scanned.clear()
    plan_json(config)
    assert reads.scanned == Counter({"vip.csv": 1})


def test_text_and_markdown_say_sources_were_not_read(config: Path) -> None:
    apply_project(config)
    text = cli("plan", "-c", str(config)).out
    assert "3 sources unchanged since the last apply were not read." in text
    assert (f"12 rows: 11 valid, 1 invalid (invalid_phone 1), 1 duplicate (1 with conflicting fields); "
            f"{UNCHANGED_NOTE}") in text
    markdown = cli("plan", "-c", str(config), "--format", "markdown").out
    assert "3 sources unchanged since the last apply were not read." in markdown
    rescanned = cli("plan", "-c", str(config), "--rescan").out
    assert "not read" not in rescanned and UNCHANGED_NOTE not in rescanned


def test_saved_plan_pins_unchanged_sources(config: Path, tmp_path: Path) -> None:
    apply_project(config)
    planfile = tmp_path / "plan.json"
    assert cli("plan", "-c", str(config), "--out", str(planfile)).code == 0
    saved = json.loads(planfile.read_text())
    assert saved["inputs"]["sources"]["data/vip.csv"] == scan._file_facts(
        engine.load_project(config, config.parent / "state").declaration.audiences["vip"]
    )[0]
    path = config.parent / "data/buyers.csv"
    path.write_text(path.read_text() + "user9@example.com,B9\n")
    result = cli("apply", str(planfile), "-c", str(config))
    assert result.code == 1
    assert "data/buyers.csv: the source file changed since the plan was made" in result.err


def test_header_rows_are_checked_only_where_sources_are_parsed(config: Path, reads: Reads) -> None:
    apply_project(config)
    path = config.parent / "data/callers.csv"
    path.write_text(path.read_text() + "+12125550999\n")
    reads.opened.clear()
    plan_json(config)
    assert set(reads.opened) == {"callers.csv"}
    reads.opened.clear()
    result = cli("validate", "-c", str(config))  # validate still reads everything
    assert result.code == 0, result.out + result.err
    assert set(reads.opened) == {"vip.csv", "callers.csv", "buyers.csv"}


def test_a_missing_header_is_reported_as_before(config: Path) -> None:
    apply_project(config)
    config.write_text(config.read_text().replace("columns: {phone: Phone}", "columns: {phone: Fone}"))
    planned = cli("plan", "-c", str(config))
    assert planned.code == 1
    assert "column 'Fone' is not a header in data/callers.csv (did you mean 'Phone'?)" in planned.err
    assert planned.err == cli("plan", "-c", str(config), "--rescan").err
    config.write_text(config.read_text().replace("version: 1", "version: 2"))
    whole = cli("plan", "-c", str(config)).err  # another problem: the whole file is reported
    assert "2 problems" in whole and "Fone" in whole and "version" in whole


def test_apply_reads_only_the_sources_of_changing_audiences(
    tmp_path: Path, emulator: Emulator, reads: Reads
) -> None:
    project = make_project(tmp_path)
    assert cli("apply", "--auto-approve", *project.args()).code == 0
    project.rows["callers.csv"] = project.rows["callers.csv"][:-1]  # one member fewer
    project.write()
    reads.scanned.clear()
    reads.opened.clear()
    result = cli("apply", "--auto-approve", *project.args())
    assert result.code == 0, result.out + result.err
    assert reads.scanned == Counter({"callers.csv": 1})
    assert set(reads.opened) == {"callers.csv"}  # (the upload is rendered from it too)
    assert "1 succeeded, 0 failed" in result.out
    assert cli("plan", "--detailed-exitcode", *project.args()).code == 0


def test_apply_records_reuse_facts_of_noop_audiences_read_in_full(
    tmp_path: Path, emulator: Emulator, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a `phonenumbers` upgrade (or state from before 0.2.0) every source is parsed; the
    next apply records how the unchanged ones were read, so later plans skip them again without
    any provider call."""
    project = make_project(tmp_path)
    assert cli("apply", "--auto-approve", *project.args()).code == 0
    monkeypatch.setattr(records.phonenumbers, "__version__", "99.0.0")
    before = project.state_doc()
    reads.scanned.clear()
    noop = cli("apply", "--auto-approve", *project.args())
    assert noop.code == 0 and "No changes" in noop.out
    assert "Recorded how the sources of 3 unchanged audiences were read" in noop.err
    assert len(reads.scanned) == 3
    after = project.state_doc()
    assert after["serial"] == before["serial"] + 1
    for key, entry in after["audiences"].items():  # only the normaliser digest moved
        assert entry["normaliser_digest"] != before["audiences"][key]["normaliser_digest"]
        assert {**entry, "normaliser_digest": ""} == {**before["audiences"][key], "normaliser_digest": ""}
    reads.scanned.clear()
    assert cli("plan", "--detailed-exitcode", *project.args()).code == 0
    assert reads.scanned == Counter()
    again = cli("apply", "--auto-approve", *project.args())
    assert again.code == 0 and "Recorded" not in again.err
    assert project.state_doc()["serial"] == after["serial"]
    # with a change elsewhere: the change is applied and the other two are recorded
    monkeypatch.setattr(records.phonenumbers, "__version__", "100.0.0")
    project.rows["callers.csv"] = project.rows["callers.csv"][:-1]
    project.write()
    mixed = cli("apply", "--auto-approve", *project.args())
    assert mixed.code == 0 and "1 succeeded, 0 failed" in mixed.out
    assert "Recorded how the sources of 2 unchanged audiences were read" in mixed.err
    reads.scanned.clear()
    assert cli("plan", "--detailed-exitcode", *project.args()).code == 0
    assert reads.scanned == Counter()
