"""Plan cost that grows with the change: which audiences may skip reading their source.

An audience is planned from what state recorded at its last apply, without parsing its source,
when all of these hold (anything else reads the source as before):
  - state has its entry, with member fingerprints, row statistics and a normaliser digest;
  - no interrupted apply left an intent for it (settling reads the source);
  - its settings digest (name, description, columns, provider and provider settings) and its
    normaliser identity (`records.normaliser_identity`: normalisation version, phonenumbers
    metadata, column mapping, regions, reading options, fingerprint key) equal what was recorded;
  - its source is a file whose SHA-256 equals the recorded one (the only read: hashing).
Such an audience is a no-op: the same bytes read with the same rules give the members that were
applied. Query sources, whose rows live elsewhere, are always read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.config.model import AudienceSpec, Declaration, SourceSpec
from reconciler.planning.records import normaliser_digest, provider_settings, recorded_rows, settings_digest
from reconciler.sources.members import SourceScan
from reconciler.sources.ranges import file_facts
from reconciler.state.store import AudienceState, State

UNCHANGED_NOTE = "source unchanged since the last apply"


@dataclass(frozen=True)
class Unchanged:
    """An audience planned from state: its source hashed (not parsed) and found as applied."""

    spec: AudienceSpec
    sha256: str
    rows: Mapping[str, Any]  # the row statistics recorded at that apply (counts only)
    recorded: tuple[object, ...]  # `entry_facts` of the state entry it was checked against

    @property
    def member_count(self) -> int:
        """Members of that read: valid rows less the duplicates dropped."""
        return int(self.rows.get("valid", 0)) - int(self.rows.get("duplicates", 0))


@dataclass
class Reuse:
    """The outcome of checking a project's audiences: which are unchanged, and the file facts
    (SHA-256, simple) of the sources that were hashed and found changed, so scanning them does
    not read them once more just to hash them."""

    unchanged: dict[str, Unchanged] = field(default_factory=dict)
    facts: dict[str, tuple[str, bool]] = field(default_factory=dict)


def entry_facts(entry: AudienceState) -> tuple[object, ...]:
    """What a decision to plan from a state entry rests on (a refresh may change any of it)."""
    return (
        entry.provider, entry.provider_id, entry.name, entry.settings_digest, entry.member_digest,
        entry.member_count, entry.source_sha256, entry.normaliser_digest,
    )


def still_unchanged(key: str, found: Unchanged, state: State) -> bool:
    """Whether `state` (e.g. refreshed from the providers since) still holds the entry `found`
    was decided on, with no intent pending for it."""
    entry = state.audiences.get(key)
    return (
        entry is not None
        and entry_facts(entry) == found.recorded
        and not any(intent.key == key for intent in state.intents)
    )


def is_file_source(spec: AudienceSpec) -> bool:
    """True for sources read from a file (a query source is never skipped: its rows live elsewhere)."""
    return not spec.is_query


def recorded_as_declared(
    spec: AudienceSpec, entry: AudienceState | None, settings: Mapping[str, object], key: bytes
) -> bool:
    """Whether state recorded this audience as declared now, short of hashing its source."""
    return (
        entry is not None
        and bool(entry.member_digest and entry.source_sha256 and entry.normaliser_digest and entry.rows)
        and is_file_source(spec)
        and entry.settings_digest == settings_digest(spec, settings)
        and entry.normaliser_digest == normaliser_digest(spec, key)
    )


def find_unchanged(
    declaration: Declaration, specs: list[AudienceSpec], state: State, key: bytes
) -> Reuse:
    """Hash the sources of the audiences `recorded_as_declared`; those whose bytes are as applied
    are unchanged. A source that cannot be hashed is left to the scan (which reports it)."""
    pending = {intent.key for intent in state.intents}
    result = Reuse()
    for spec in specs:
        source = spec.source
        if not isinstance(source, SourceSpec):  # a query: always read
            continue
        entry = state.audiences.get(spec.key)
        settings = provider_settings(declaration, spec.provider)
        if spec.key in pending or not recorded_as_declared(spec, entry, settings, key):
            continue
        assert entry is not None
        try:
            facts = file_facts(str(source.path))
        except OSError:
            continue
        if facts[0] == entry.source_sha256:
            result.unchanged[spec.key] = Unchanged(spec, facts[0], dict(entry.rows), entry_facts(entry))
        else:
            result.facts[spec.key] = facts
    return result


def backfilled_entries(
    declaration: Declaration, state: State, scans: Mapping[str, SourceScan], keys: Iterable[str], key: bytes
) -> dict[str, AudienceState]:
    """State entries for the no-op audiences `keys` whose sources were read in full and found as
    applied, but whose entry lacks the facts a plan needs to skip them next time (recorded before
    this version, or under another normaliser, e.g. after a `phonenumbers` upgrade): the entry
    with the source's SHA-256, the normaliser digest and the row statistics of this read. Only
    audiences whose members and settings equal the entry's qualify; nothing else of it changes."""
    result: dict[str, AudienceState] = {}
    for audience in keys:
        spec, entry = declaration.audiences.get(audience), state.audiences.get(audience)
        scan = scans.get(audience)
        if spec is None or entry is None or scan is None or not is_file_source(spec):
            continue
        settings = provider_settings(declaration, spec.provider)
        if entry.settings_digest != settings_digest(spec, settings):
            continue
        if entry.member_digest != scan.members.digest():
            continue
        source_sha256, normaliser, rows = scan.sha256, normaliser_digest(spec, key), recorded_rows(scan)
        if (entry.source_sha256, entry.normaliser_digest, entry.rows) != (source_sha256, normaliser, rows):
            result[audience] = dataclasses.replace(
                entry, source_sha256=source_sha256, normaliser_digest=normaliser, rows=rows
            )
    return result
