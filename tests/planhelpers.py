"""Test helpers for the plan engine: small declarations, scans, and the state an apply leaves.

`state_after_apply` builds the State + MemberSets exactly as the executor records them after a
successful apply: provider IDs, name, `diff.settings_digest`, `MemberSet.digest()`, member count,
source digest and `diff.applied_extra` (protect flag and settings record), through the same
`records.applied_entry` the executor uses; given the fingerprint key, also the normaliser digest
and row statistics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from reconciler.config.model import AudienceSpec, Declaration, ProviderName, SourceSpec
from reconciler.planning.diff import Desired, applied_entry, provider_settings
from reconciler.planning.engine import Project
from reconciler.planning.records import normaliser_digest, recorded_rows
from reconciler.sources.members import MemberSet, RowIssue, SourceScan
from reconciler.state.store import State

DEFAULT_COLUMNS = {"phone": "Mobile", "first_name": "First"}


def spec(key: str, provider: ProviderName = "commbox", **overrides: Any) -> AudienceSpec:
    """An AudienceSpec with sensible defaults (source data/<key>.csv)."""
    values: dict[str, Any] = {
        "key": key,
        "provider": provider,
        "name": f"{key} audience",
        "source": SourceSpec(path=Path(f"/project/data/{key}.csv"), display=f"data/{key}.csv"),
        "columns": dict(DEFAULT_COLUMNS),
        "phone_region": "US",
    }
    values.update(overrides)
    return AudienceSpec(**values)


def members(ids: range | list[int], attr: int = 7) -> MemberSet:
    """A MemberSet of the given identity fingerprints, all with attribute fingerprint `attr`."""
    id_list = list(ids)
    return MemberSet(np.array(id_list, dtype=np.uint64), np.full(len(id_list), attr, dtype=np.uint32))


def scan(key: str, member_set: MemberSet, *, issues: list[RowIssue] | None = None,
         duplicates: int = 0) -> SourceScan:
    """A SourceScan of `member_set` as if read from data/<key>.csv."""
    issue_list = list(issues or [])
    invalid: dict[str, int] = {}
    for issue in issue_list:
        invalid[issue.reason] = invalid.get(issue.reason, 0) + 1
    valid = len(member_set) + duplicates
    return SourceScan(
        audience=key,
        source=f"data/{key}.csv",
        sha256=f"sha-{key}-{member_set.digest()[:12]}",
        rows_read=valid + len(issue_list),
        valid=valid,
        invalid=invalid,
        issues=issue_list,
        duplicates=duplicates,
        members=member_set,
    )


def desired(*items: tuple[AudienceSpec, MemberSet],
            settings: Mapping[str, Mapping[str, object]] | None = None) -> dict[str, Desired]:
    """Desired audiences from (spec, members) pairs; `settings` maps provider -> its settings."""
    settings = settings or {}
    return {
        s.key: Desired(spec=s, scan=scan(s.key, m), settings=dict(settings.get(s.provider, {})))
        for s, m in items
    }


def applied_state(
    wanted: Mapping[str, Desired], *, lineage: str = "lineage-1", serial: int = 1,
    fingerprint_key: bytes | None = None,
) -> tuple[State, dict[str, MemberSet]]:
    """The State and member sets an apply of `wanted` records (see module docstring); with the
    `fingerprint_key`, also the normaliser digest and row statistics of each read."""
    state = State(lineage=lineage, serial=serial, fingerprint_key="00" * 32)
    sets: dict[str, MemberSet] = {}
    fp_key = fingerprint_key
    for key, want in wanted.items():
        state.audiences[key] = applied_entry(
            want.spec, want.settings, f"id-{key}", want.scan.members, source_sha256=want.scan.sha256,
            applied_at="2026-01-01T00:00:00Z",
            normaliser=normaliser_digest(want.spec, fp_key) if fp_key is not None else "",
            rows=recorded_rows(want.scan) if fp_key is not None else {},
        )
        sets[key] = want.scan.members
    return state, sets


def desired_of(declaration: Declaration, scans: Mapping[str, SourceScan]) -> dict[str, Desired]:
    """The Desired audiences of a loaded declaration and its scans (as the engine builds them)."""
    return {
        key: Desired(spec=s, scan=scans[key], settings=provider_settings(declaration, s.provider))
        for key, s in declaration.audiences.items()
        if key in scans
    }


def state_after_apply(project: Project) -> tuple[State, dict[str, MemberSet]]:
    """The State + MemberSets the executor records after applying `project` successfully: the
    project's state (lineage, serial, fingerprint key) with one entry per scanned audience, ready
    for `project.store.save(state, sets)`."""
    recorded, sets = applied_state(desired_of(project.declaration, project.scans),
                                   fingerprint_key=project.key)
    state = dataclasses.replace(project.state, audiences=recorded.audiences, intents=[])
    return state, sets


def loader(sets: Mapping[str, MemberSet]) -> Any:
    """A `load_members` callable over recorded member sets (keyed by audience key)."""
    return lambda entry: sets.get(entry.key, MemberSet())


# -- projects on disk (real declaration, sources and state) ------------------------------------------

PROJECT_YAML = """\
version: 1
defaults:
  phone_region: US
providers:
  whop: {{account_id: biz_test}}
audiences:
  vip:
    provider: commbox
    name: VIP customers
    source: data/vip.csv
    columns: {{phone: Mobile, first_name: First}}
  callers:
    provider: smallest
    name: Callers
    description: call list
    source: data/callers.csv
    columns: {{phone: Phone}}
    protect: {protect}
  buyers:
    provider: whop
    name: Buyers
    source: data/buyers.csv
    columns: {{email: Email, first_name: First}}
"""


def phone(i: int) -> str:
    """The i-th test phone number (valid US numbers, 0 <= i < 1000), formatted as users write them."""
    return f"+1212555{i:04d}"


def write_csv(path: Path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def write_project(root: Path, *, vip: Iterable[int] = range(10), callers: Iterable[int] = range(100, 120),
                  buyers: Iterable[int] = range(5), protect: bool = False) -> Path:
    """A three-provider project under `root`; returns the config path."""
    write_csv(root / "data/vip.csv", "Mobile,First", [f"{phone(i)},Name{i}" for i in vip])
    write_csv(root / "data/callers.csv", "Phone", [phone(i) for i in callers])
    write_csv(root / "data/buyers.csv", "Email,First", [f"user{i}@example.com,B{i}" for i in buyers])
    config = root / "audiences.yaml"
    config.write_text(PROJECT_YAML.format(protect=str(protect).lower()), encoding="utf-8")
    return config


def apply_project(config: Path, state_dir: Path | None = None) -> State:
    """Record in the state what a successful apply of the project at `config` would."""
    from reconciler.planning.engine import load_project

    project = load_project(config, state_dir or config.parent / "state")
    state, sets = state_after_apply(project)
    return project.store.save(state, sets)
