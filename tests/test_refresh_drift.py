"""Pure drift detection and folding (reconciler.planning.drift) against an in-memory fake provider."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reconciler.config.model import AudienceSpec, SourceSpec
from reconciler.errors import NotFoundError
from reconciler.planning.diff import settings_digest, settings_record
from reconciler.planning.drift import (
    COUNT,
    DYNAMIC,
    FAILED,
    GONE,
    INTERRUPTED,
    NOT_READY,
    RENAMED,
    detect_drift,
    fold_findings,
    providers_in_use,
    refresh,
)
from reconciler.providers.base import Capabilities, MemberStrategy, Provider, RemoteAudience
from reconciler.state.store import AudienceState, Intent, State


class FakeProvider(Provider):
    """Audiences in a dict; counts the reads."""

    def __init__(self, name: str, audiences: list[RemoteAudience], *, raise_not_found: bool = False) -> None:
        self.name = name
        self.capabilities = Capabilities(rename=False, delete=False, members=MemberStrategy.PUT_REPLACE)
        self.audiences = {a.id: a for a in audiences}
        self.reads: list[str] = []
        self.lists = 0
        self.raise_not_found = raise_not_found

    def list_audiences(self) -> list[RemoteAudience]:
        self.lists += 1
        return list(self.audiences.values())

    def read(self, audience_id: str) -> RemoteAudience | None:
        self.reads.append(audience_id)
        if audience_id not in self.audiences and self.raise_not_found:
            raise NotFoundError("unknown", provider=self.name, status=404)
        return self.audiences.get(audience_id)

    def create(self, *args: Any, **kwargs: Any) -> RemoteAudience:  # pragma: no cover - never called
        raise AssertionError("refresh must never create")


def entry(
    key: str, provider: str = "commbox", pid: str = "1", name: str = "VIP", count: int = 3
) -> AudienceState:
    return AudienceState(
        key=key,
        provider=provider,
        provider_id=pid,
        name=name,
        member_count=count,
        settings_digest="sd",
        member_digest="md",
    )


def test_matching_audience_has_no_findings() -> None:
    assert detect_drift(entry("a"), RemoteAudience("1", "VIP", member_count=3, kind="Static")) == []


def test_gone() -> None:
    [found] = detect_drift(entry("a"), None)
    assert (found.kind, found.key, found.provider_id, found.is_drift) == (GONE, "a", "1", True)


def test_renamed_dynamic_failed_count_are_each_reported() -> None:
    remote = RemoteAudience(
        "1", "VIP 2", status="failed", member_count=5, kind="Dynamic", error_message="bad file"
    )
    kinds = {f.kind: f for f in detect_drift(entry("a"), remote)}
    assert set(kinds) == {RENAMED, DYNAMIC, FAILED, COUNT}
    assert (kinds[RENAMED].before, kinds[RENAMED].after) == ("VIP", "VIP 2")
    assert (kinds[COUNT].before, kinds[COUNT].after) == (3, 5)
    assert "bad file" in kinds[FAILED].message


def test_unknown_count_is_not_drift_and_processing_is_informational() -> None:
    assert detect_drift(entry("a"), RemoteAudience("1", "VIP", member_count=None)) == []
    pending = RemoteAudience("1", "VIP", status="processing", member_count=0)
    [found] = detect_drift(entry("a", "whop"), pending)
    assert found.kind == NOT_READY and not found.is_drift


def test_fold_drops_gone_and_records_provider_facts_without_touching_input() -> None:
    state = State(
        lineage="L",
        serial=4,
        fingerprint_key="k",
        audiences={"a": entry("a"), "b": entry("b", pid="2"), "c": entry("c", pid="3")},
    )
    original = copy.deepcopy(state)
    findings = (
        detect_drift(state.audiences["a"], None)
        + detect_drift(state.audiences["b"], RemoteAudience("2", "New", member_count=9, kind="Dynamic"))
        + detect_drift(state.audiences["c"], RemoteAudience("3", "VIP", member_count=3))
    )
    folded = fold_findings(state, findings)
    assert state == original
    assert set(folded.audiences) == {"b", "c"}
    b = folded.audiences["b"]
    assert (b.name, b.member_count, b.extra["remote_kind"], b.member_digest) == ("New", 9, "Dynamic", "md")
    assert b.settings_digest != "sd"
    assert folded.audiences["c"] == state.audiences["c"]
    assert (folded.lineage, folded.serial, folded.fingerprint_key) == ("L", 4, "k")


def _spec(name: str) -> AudienceSpec:
    source = SourceSpec(path=Path("/x/vip.csv"), display="vip.csv")
    return AudienceSpec(
        key="a", provider="whop", name=name, source=source, columns={"phone": "Mobile"}, phone_region="US"
    )


def test_fold_rename_recomputes_the_settings_digest_exactly_as_diff_does() -> None:
    settings = {"account_id": "biz_1"}
    applied = _spec("VIP")
    state_entry = entry("a", "whop", "adaud_1", "VIP")
    state_entry.settings_digest = settings_digest(applied, settings)
    state_entry.extra["settings"] = settings_record(applied, settings)
    state = State(audiences={"a": state_entry})
    renamed = RemoteAudience("adaud_1", "Renamed", member_count=3)
    folded = fold_findings(state, detect_drift(state_entry, renamed))
    expected = settings_digest(replace(applied, name="Renamed"), settings)
    assert folded.audiences["a"].settings_digest == expected


def test_refresh_reads_each_managed_audience_once_and_treats_404_as_gone() -> None:
    commbox = FakeProvider("commbox", [RemoteAudience("1", "VIP", member_count=3, kind="Static")])
    whop = FakeProvider("whop", [], raise_not_found=True)
    state = State(audiences={"a": entry("a"), "w": entry("w", "whop", "adaud_9")})
    result = refresh(state, {"commbox": commbox, "whop": whop})
    assert commbox.reads == ["1"] and whop.reads == ["adaud_9"]
    assert result.checked == 2 and result.gone == {"w"} and result.has_drift
    assert set(result.state.audiences) == {"a"}
    assert result.reasons("w") == [GONE] and result.reasons("a") == []


def test_many_audiences_of_one_provider_cost_one_listing_plus_a_read_per_missing_one() -> None:
    remote = [RemoteAudience(str(i), f"A{i}", member_count=3) for i in range(50)]
    commbox = FakeProvider("commbox", remote, raise_not_found=True)
    state = State(audiences={f"k{i}": entry(f"k{i}", pid=str(i), name=f"A{i}") for i in range(52)})
    result = refresh(state, {"commbox": commbox})
    assert commbox.lists == 1 and sorted(commbox.reads) == ["50", "51"]
    assert result.gone == {"k50", "k51"} and len(result.findings) == 2 and result.checked == 52


def test_no_drift_result() -> None:
    provider = FakeProvider("commbox", [RemoteAudience("1", "VIP", member_count=3)])
    result = refresh(State(audiences={"a": entry("a")}), {"commbox": provider})
    assert not result.has_drift and result.findings == [] and result.state.audiences == {"a": entry("a")}


def _intent(key: str, name: str, provider: str = "smallest") -> Intent:
    return Intent(
        id="i1", key=key, provider=provider, operation="create", name=name, started_at="2026-01-01T00:00:00Z"
    )


def test_interrupted_create_is_offered_for_adoption_excluding_managed_ids() -> None:
    smallest = FakeProvider(
        "smallest",
        [RemoteAudience("s1", "Callers"), RemoteAudience("s2", "Callers"), RemoteAudience("s3", "Other")],
    )
    state = State(
        audiences={"old": entry("old", "smallest", "s1", "Callers")}, intents=[_intent("callers", "Callers")]
    )
    result = refresh(state, {"smallest": smallest})
    [adoption] = result.adoptions
    assert adoption.candidates == ("s2",)
    assert adoption.commands == ["reconciler import callers s2"]
    interrupted = [f for f in result.findings if f.kind == INTERRUPTED]
    assert len(interrupted) == 1 and "reconciler import callers s2" in interrupted[0].message
    assert result.state.intents == state.intents  # refresh reports intents; apply settles them
    assert result.has_drift


def test_interrupted_create_that_never_landed() -> None:
    smallest = FakeProvider("smallest", [RemoteAudience("s3", "Other")])
    result = refresh(State(intents=[_intent("callers", "Callers")]), {"smallest": smallest})
    assert result.adoptions == []
    [found] = result.findings
    assert found.kind == INTERRUPTED and "no new audience by that name" in found.message


def test_interrupted_create_skips_preexisting_and_replacements_are_left_to_apply() -> None:
    smallest = FakeProvider("smallest", [RemoteAudience("s1", "Callers"), RemoteAudience("s2", "Callers")])
    intent = _intent("callers", "Callers")
    intent.details["preexisting"] = ["s1"]
    result = refresh(State(intents=[intent]), {"smallest": smallest})
    assert [a.candidates for a in result.adoptions] == [("s2",)]
    replacing = State(audiences={"callers": entry("callers", "smallest", "s0", "Callers")}, intents=[intent])
    smallest.audiences["s0"] = RemoteAudience("s0", "Callers", member_count=3)
    result = refresh(replacing, {"smallest": smallest})
    assert result.adoptions == []
    [found] = [f for f in result.findings if f.kind == INTERRUPTED]
    assert "next apply" in found.message and found.after == ["s2"]


def test_providers_in_use_covers_entries_and_pending_creates() -> None:
    state = State(audiences={"a": entry("a"), "b": entry("b", "whop")}, intents=[_intent("c", "C")])
    assert providers_in_use(state) == ["commbox", "smallest", "whop"]
    assert providers_in_use(State()) == []


names = st.text(min_size=1, max_size=12)


@given(
    state_name=names,
    remote_name=names,
    state_count=st.integers(0, 10**6),
    remote_count=st.one_of(st.none(), st.integers(0, 10**6)),
    status=st.sampled_from(["ready", "partial", "failed", "pending", "processing", "syncing"]),
    kind=st.sampled_from([None, "Static", "Dynamic"]),
)
def test_fold_agrees_with_findings(
    state_name: str,
    remote_name: str,
    state_count: int,
    remote_count: int | None,
    status: str,
    kind: str | None,
) -> None:
    state_entry = entry("a", name=state_name, count=state_count)
    remote = RemoteAudience("1", remote_name, status=status, member_count=remote_count, kind=kind)
    findings = detect_drift(state_entry, remote)
    kinds = {f.kind for f in findings}
    assert (RENAMED in kinds) == (state_name != remote_name)
    assert (DYNAMIC in kinds) == (kind == "Dynamic")
    settled = status in ("ready", "partial", "failed")
    assert (NOT_READY in kinds) == (not settled)
    assert (COUNT in kinds) == (settled and remote_count is not None and remote_count != state_count)
    folded = fold_findings(State(audiences={"a": state_entry}), findings).audiences["a"]
    assert folded.name == remote_name
    if COUNT in kinds:
        assert folded.member_count == remote_count
    else:
        assert folded.member_count == state_count
    # folding what was found is idempotent: a second refresh of the folded entry finds no rename/count
    again = {f.kind for f in detect_drift(folded, remote)}
    assert not again & {RENAMED, COUNT}
