"""Drift: what the providers say about the audiences the state manages.

`detect_drift`, `fold_findings` and `fold_drift_into_plan` are pure. `refresh` is the one
function doing I/O, and only
through the `Provider` objects it is given (it reads, never writes): `reconciler refresh` and
`reconciler plan --refresh` both call it.

Finding kinds (stable codes, used in JSON output and as plan reasons):
  gone_at_provider        the provider no longer knows the audience
  renamed_at_provider     its display name differs from the one recorded in state
  member_count_differs    the provider counts a different number of members than state records
  dynamic_at_provider     a CommBox audience is Dynamic where the tool manages Static lists only
  failed_at_provider      the provider reports the audience failed (Whop status `failed`)
  not_ready_at_provider   the audience is still processing (informational, not drift)
  interrupted_create      a create was interrupted; candidates found by name are offered for import
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import NotFoundError
from reconciler.planning.diff import update_strategy
from reconciler.planning.plan import Action, Plan
from reconciler.planning.records import record_digest
from reconciler.providers import registry
from reconciler.providers.base import Provider, RemoteAudience
from reconciler.state.store import AudienceState, Intent, State

GONE = "gone_at_provider"
RENAMED = "renamed_at_provider"
COUNT = "member_count_differs"
DYNAMIC = "dynamic_at_provider"
FAILED = "failed_at_provider"
NOT_READY = "not_ready_at_provider"
INTERRUPTED = "interrupted_create"

#: Kinds that are not drift (they do not make `--detailed-exitcode` return 2).
INFORMATIONAL: frozenset[str] = frozenset({NOT_READY})

_SETTLED_STATUSES = frozenset({"ready", "partial", "failed"})


@dataclass(frozen=True)
class Finding:
    """One fact a provider reported that the state does not reflect."""

    key: str
    provider: str
    kind: str
    message: str
    provider_id: str | None = None
    before: Any = None  # what state records
    after: Any = None  # what the provider reports

    @property
    def is_drift(self) -> bool:
        return self.kind not in INFORMATIONAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.key,
            "provider": self.provider,
            "kind": self.kind,
            "provider_id": self.provider_id,
            "before": self.before,
            "after": self.after,
            "message": self.message,
        }


@dataclass(frozen=True)
class Adoption:
    """A provider audience that an interrupted create probably made, offered for `reconciler import`."""

    key: str
    provider: str
    name: str
    intent_id: str
    candidates: tuple[str, ...]  # provider ids whose name matches and that no key manages

    @property
    def commands(self) -> list[str]:
        """The command(s) that adopt it (one per candidate; more than one means: pick one)."""
        return [f"reconciler import {self.key} {pid}" for pid in self.candidates]

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.key,
            "provider": self.provider,
            "name": self.name,
            "intent_id": self.intent_id,
            "candidates": list(self.candidates),
            "commands": self.commands,
        }


@dataclass
class RefreshResult:
    """What a refresh found, and the state with those provider-side facts folded in (a copy)."""

    findings: list[Finding]
    state: State
    adoptions: list[Adoption] = field(default_factory=list)
    checked: int = 0  # managed audiences read

    @property
    def has_drift(self) -> bool:
        return any(f.is_drift for f in self.findings)

    @property
    def gone(self) -> set[str]:
        """Keys of audiences gone at the provider (removed from `state`; plan them as create)."""
        return {f.key for f in self.findings if f.kind == GONE}

    def reasons(self, key: str) -> list[str]:
        """Drift kinds found for `key`, for use as plan reasons."""
        return [f.kind for f in self.findings if f.key == key and f.is_drift]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": "1",
            "checked": self.checked,
            "drift": self.has_drift,
            "findings": [f.to_dict() for f in self.findings],
            "adoptions": [a.to_dict() for a in self.adoptions],
        }


def detect_drift(entry: AudienceState, remote: RemoteAudience | None) -> list[Finding]:
    """Compare one state entry with what its provider reports (None: the provider does not know it)."""

    def finding(kind: str, message: str, before: Any = None, after: Any = None) -> Finding:
        return Finding(entry.key, entry.provider, kind, message, entry.provider_id, before, after)

    if remote is None:
        return [
            finding(
                GONE,
                f"{entry.provider} audience {entry.provider_id} no longer exists; "
                "the next plan creates it again",
            )
        ]
    found: list[Finding] = []
    if remote.name != entry.name:
        found.append(
            finding(RENAMED, f"renamed at {entry.provider}: {entry.name!r} -> {remote.name!r}", entry.name,
                    remote.name)
        )
    if remote.kind is not None and remote.kind.lower() == "dynamic":
        found.append(
            finding(DYNAMIC, f"{entry.provider} audience {entry.provider_id} is Dynamic; only Static "
                    "audiences can be managed", "Static", remote.kind)
        )
    status = remote.status.lower()
    if status == "failed":
        detail = f": {remote.error_message}" if remote.error_message else ""
        found.append(finding(FAILED, f"status failed at {entry.provider}{detail}", "ready", remote.status))
    elif status not in _SETTLED_STATUSES:
        found.append(finding(NOT_READY, f"still {remote.status} at {entry.provider}", None, remote.status))
        return found  # counts are meaningless while the provider is still processing
    if remote.member_count is not None and remote.member_count != entry.member_count:
        found.append(
            finding(COUNT, f"{remote.member_count:,} members at {entry.provider}, state records "
                    f"{entry.member_count:,}", entry.member_count, remote.member_count)
        )
    return found


def fold_findings(state: State, findings: list[Finding]) -> State:
    """A deep copy of `state` with the provider-side facts of `findings` recorded.

    Gone audiences are dropped (the plan then creates them); names and member counts take the
    provider's values; Dynamic/failed status is kept in `extra` so plans and apply can refuse.
    Member fingerprints and pending intents are left untouched."""
    folded = copy.deepcopy(state)
    for item in findings:
        entry = folded.audiences.get(item.key)
        if entry is None or entry.provider_id != item.provider_id:
            continue
        if item.kind == GONE:
            del folded.audiences[item.key]
        elif item.kind == RENAMED:
            _record_name(entry, str(item.after))
        elif item.kind == COUNT:
            entry.member_count = int(item.after)
        elif item.kind == DYNAMIC:
            entry.extra["remote_kind"] = item.after
        elif item.kind == FAILED:
            entry.extra["remote_status"] = item.after
    return folded


def _record_name(entry: AudienceState, name: str) -> None:
    """Record that the audience is now called `name` at its provider, in the entry's name, its settings
    record and that record's digest (as `records.settings_digest` computes it), so the next
    plan sees the difference from the declared name."""
    entry.name = name
    record = entry.extra.get("settings")
    if isinstance(record, dict):
        record = {**record, "name": name}
        entry.extra["settings"] = record
        entry.settings_digest = record_digest(record)
    else:  # applied by a tool that kept no record: let the plan see settings as changed
        entry.settings_digest = ""


def pending_creates(state: State) -> list[Intent]:
    """Create intents that were never settled (a run died between the call and the state write)."""
    return [i for i in state.pending_intents if i.operation == "create"]


def match_interrupted(
    intent: Intent, candidates: list[RemoteAudience], managed_ids: set[tuple[str, str]], *, key_in_state: bool
) -> tuple[Finding, Adoption | None]:
    """Describe an interrupted create given the provider audiences carrying its name.

    Audiences that existed before the create (`intent.details["preexisting"]`) or that state already
    manages are not candidates. When the key is still in state (an interrupted replace), `import`
    cannot adopt: the hint is then the next apply, which settles the intent itself."""
    before = set(intent.details.get("preexisting") or ())
    free = tuple(
        c.id for c in candidates if c.id not in before and (intent.provider, c.id) not in managed_ids
    )
    if not free:
        message = (
            f"a create of {intent.name!r} was interrupted ({intent.started_at}) and no new audience by that "
            f"name exists at {intent.provider}; the next apply creates it"
        )
        return Finding(intent.key, intent.provider, INTERRUPTED, message, None, None, None), None
    if key_in_state:
        message = (
            f"a replacement {intent.name!r} was created at {intent.provider} ({', '.join(free)}) by an "
            "interrupted run; the next apply records it and finishes the replace"
        )
        return Finding(intent.key, intent.provider, INTERRUPTED, message, free[0], None, list(free)), None
    adoption = Adoption(intent.key, intent.provider, intent.name, intent.id, free)
    if len(free) == 1:
        hint = f"run `{adoption.commands[0]}` to adopt it"
    else:
        hint = (
            f"{len(free)} audiences carry that name ({', '.join(free)}); "
            f"adopt one with `reconciler import {intent.key} ID`"
        )
    message = f"a create of {intent.name!r} was interrupted; found at {intent.provider}: {hint}"
    return Finding(intent.key, intent.provider, INTERRUPTED, message, free[0], None, list(free)), adoption


def read_audiences(provider: Provider, ids: Collection[str]) -> dict[str, RemoteAudience | None]:
    """Each of `ids` as `provider` reports it (None: unknown there), with as few calls as possible.

    One id: `read`. Several: one listing (CommBox can only list; Whop and Smallest list with the
    same fields), then `read` only for ids the listing lacks, to confirm they are gone."""

    def one(audience_id: str) -> RemoteAudience | None:
        try:
            return provider.read(audience_id)
        except NotFoundError:
            return None

    if len(ids) <= 1:
        return {i: one(i) for i in ids}
    listed = {a.id: a for a in provider.list_audiences()}
    return {i: listed[i] if i in listed else one(i) for i in ids}


def refresh(state: State, providers: Mapping[str, Provider]) -> RefreshResult:
    """Read every managed audience (and every interrupted create) of `state` back from its provider.

    `providers` maps provider name -> client for at least every provider the state uses
    (see `providers_in_use`); a missing one raises KeyError. Provider errors propagate."""
    by_provider: dict[str, list[str]] = {}
    for entry in state.audiences.values():
        by_provider.setdefault(entry.provider, []).append(entry.provider_id)
    remote: dict[tuple[str, str], RemoteAudience | None] = {}
    for name, ids in sorted(by_provider.items()):
        for audience_id, seen in read_audiences(providers[name], sorted(set(ids))).items():
            remote[(name, audience_id)] = seen
    findings: list[Finding] = []
    for key in sorted(state.audiences):
        entry = state.audiences[key]
        findings.extend(detect_drift(entry, remote[(entry.provider, entry.provider_id)]))
    managed = {(e.provider, e.provider_id) for e in state.audiences.values()}
    adoptions: list[Adoption] = []
    for intent in pending_creates(state):
        named = providers[intent.provider].find_by_name(intent.name)
        in_state = intent.key in state.audiences
        found, adoption = match_interrupted(intent, named, managed, key_in_state=in_state)
        findings.append(found)
        if adoption is not None:
            adoptions.append(adoption)
    return RefreshResult(findings, fold_findings(state, findings), adoptions, checked=len(state.audiences))


def providers_in_use(state: State) -> list[str]:
    """Provider names a refresh of `state` must talk to (managed audiences and pending creates)."""
    names = {e.provider for e in state.audiences.values()} | {i.provider for i in pending_creates(state)}
    return sorted(names)


def fold_drift_into_plan(plan: Plan, refreshed: RefreshResult) -> None:
    """Explain each change by what `plan --refresh` found at the providers.

    An audience gone at the provider plans as `create` because `gone_at_provider`; every drift kind
    becomes a reason and its message a warning. Members changed behind the tool's back (the provider
    counts a different number) make an otherwise unchanged audience an update that re-syncs it from
    its source where the provider's member strategy can (whole-list upload, in-place sync); an
    append-only provider cannot remove people in place, so there it is a warning."""
    for change in plan.changes:
        findings = [f for f in refreshed.findings if f.key == change.address and f.is_drift]
        if not findings:
            continue
        kinds = [f.kind for f in findings]
        if change.action is Action.CREATE and GONE in kinds:
            change.reasons = [r for r in change.reasons if r != "added_to_config"]
        change.reasons = list(dict.fromkeys([*kinds, *change.reasons]))
        change.warnings.extend(f.message for f in findings)
        if COUNT in kinds and change.action is Action.NOOP:
            cls = registry.find(change.provider)
            strategy = update_strategy(cls) if cls is not None else None
            if strategy is None:
                change.warnings.append(
                    f"{change.provider} cannot remove members in place: run `reconciler plan --replace "
                    f"{change.address}` to rebuild the audience from its source"
                )
                continue
            change.action = Action.UPDATE
            change.strategy = strategy
            change.members.before = next(int(f.after) for f in findings if f.kind == COUNT)
