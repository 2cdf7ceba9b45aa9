"""Orchestration: load the project (declaration, state, sources) and make a plan from it.

Public API (commands and the executor rely on these names):
  Project, load_project(config, state, targets=None, env=os.environ, *, reuse=False) -> Project
    (state: a backend, or a local directory)
  make_plan(project, options) -> Plan   (pure: the environment was read by load_project)
  ensure_scanned(project, keys) -> None  (scan the sources of audiences planned from state)
  check_plan_current(plan, project) -> None  (raises StalePlanError when inputs moved)
  options_of(inputs) -> PlanOptions  (the options a saved plan was made with)
  plan_checksum_key(project) -> bytes  (signs and checks saved plans)

With `reuse`, audiences whose source, settings and normaliser identity are as state recorded at
their last apply are not parsed (see planning/reuse.py): they plan as no-ops from state.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from reconciler import __version__
from reconciler.config.model import AudienceSpec, Declaration, QuerySpec
from reconciler.errors import ConfigError, Problem, ReconcilerError, StalePlanError, UsageError
from reconciler.planning.diff import Desired, diff, provider_settings
from reconciler.planning.guards import apply_guards
from reconciler.planning.limits import check_limits
from reconciler.planning.plan import Inputs, Plan
from reconciler.planning.reuse import Reuse, Unchanged, find_unchanged, still_unchanged
from reconciler.safetext import printable
from reconciler.sources.members import SourceScan
from reconciler.sources.parallel import start_method
from reconciler.sources.scan import scan_source
from reconciler.state.backend import StateBackend
from reconciler.state.store import FINGERPRINT_KEY_ENV, State, StateStore


@dataclass
class PlanOptions:
    targets: list[str] = field(default_factory=list)  # empty: every audience
    replace: list[str] = field(default_factory=list)
    allow_shrink: list[str] = field(default_factory=list)
    allow_destroy: list[str] = field(default_factory=list)
    refresh: bool = False  # recorded in the plan; the caller reads the providers (plan --refresh)
    rescan: bool = False  # recorded in the plan; the caller loads the project with reuse=not rescan


def options_of(inputs: Inputs) -> PlanOptions:
    """The options a plan with these recorded inputs was made with (to re-derive a saved plan)."""
    return PlanOptions(
        targets=list(inputs.targets),
        replace=list(inputs.replace),
        allow_shrink=list(inputs.allow_shrink),
        allow_destroy=list(inputs.allow_destroy),
        refresh=inputs.refresh,
        rescan=inputs.rescan,
    )


@dataclass
class Project:
    declaration: Declaration
    store: StateBackend
    state: State
    key: bytes  # fingerprint key
    scans: dict[str, SourceScan] = field(default_factory=dict)  # audience key -> scan
    config_display: str = ""  # the config path as the user gave it (recorded in plans)
    unchanged: dict[str, Unchanged] = field(default_factory=dict)  # key -> planned from state, not parsed
    ephemeral_key: bool = False  # `key` is a random one made for this run (no key in state or env)


def plan_checksum_key(project: Project) -> bytes:
    """The key that signs and checks saved plans, derived from the fingerprint key (a public one
    when the key is ephemeral: a plan from empty state is then applied against another random key)."""
    from reconciler.planning.planfile import checksum_key

    return checksum_key(None if project.ephemeral_key else project.key)


def _check_keys(flag: str, keys: Iterable[str], known: Collection[str]) -> None:
    unknown = sorted(set(keys) - set(known))
    if unknown:
        listed = ", ".join(printable(k, 100) for k in unknown)
        raise UsageError(f"{flag} names no audience in the declaration or the state: {listed}")


# Sources this small are scanned inline by scan_source; many of them are spread over processes here.
SMALL_SOURCE_BYTES = 1 << 20
# Below this many, starting the pool costs more than it saves (100-row sources on 2 CPUs: 10 take
# 0.036 s pooled and 0.020 s inline, 16 the same, 32 take 0.060 s pooled and 0.088 s inline).
POOL_MIN_SOURCES = 24


Facts = tuple[str, bool]  # a source's (SHA-256, simple): see sources.ranges.file_facts


def _scan_one(job: tuple[AudienceSpec, bytes, Facts | None]) -> SourceScan | ReconcilerError:
    """Scan one small source in a worker process (errors come back as values, problems intact)."""
    spec, key, facts = job
    try:
        return scan_source(spec, key, workers=1, facts=facts)
    except ReconcilerError as exc:
        return exc


def _source_size(spec: AudienceSpec) -> int:
    if isinstance(spec.source, QuerySpec):
        return SMALL_SOURCE_BYTES  # a query is read on its own (its size is unknown until it runs)
    try:
        return spec.source.path.stat().st_size
    except OSError:
        return 0  # scan_source reports the missing file


class ScanReporter(Protocol):
    """Progress of source scans (scanprogress.ScanProgress shows it on a terminal)."""

    @property
    def active(self) -> bool: ...

    def start(self, label: str, total_rows: int | None) -> Any: ...

    def update(self, task: Any, rows: int) -> None: ...

    def finish(self, task: Any) -> None: ...


def estimated_rows(spec: AudienceSpec) -> int | None:
    """About how many rows a text source holds (from the line length of its first 64 KB)."""
    source = spec.source
    if isinstance(source, QuerySpec) or source.is_excel:
        return None
    try:
        size = source.path.stat().st_size
        with source.path.open("rb") as handle:
            sample = handle.read(1 << 16)
    except OSError:
        return None
    lines = sample.count(b"\n")
    if not sample or not lines:
        return None
    return max(0, round(size * lines / len(sample)) - 1)


def scan_sources(
    specs: list[AudienceSpec],
    key: bytes,
    facts: Mapping[str, Facts] | None = None,
    progress: ScanReporter | None = None,
) -> dict[str, SourceScan]:
    """Scan every audience's source: many small ones on a process pool (one per CPU), large ones
    one after another (scan_source spreads a large file over processes itself). `facts`: file
    facts of sources hashed already, by audience key; `progress`: where rows read are reported."""
    facts = facts or {}
    shown = progress is not None and progress.active
    small = [s for s in specs if _source_size(s) < SMALL_SOURCE_BYTES]
    cpus = os.cpu_count() or 1
    scans: dict[str, SourceScan] = {}
    if len(small) >= POOL_MIN_SOURCES and cpus > 1:
        # start_method(): fork only while single-threaded (the scan display starts no thread).
        with multiprocessing.get_context(start_method()).Pool(min(cpus, 4)) as pool:
            total = sum(estimated_rows(s) or 0 for s in small) if shown else None
            task = progress.start(f"{len(small):,} small sources", total) if progress is not None else None
            rows = 0
            jobs = [(s, key, facts.get(s.key)) for s in small]
            for spec, result in zip(small, pool.imap(_scan_one, jobs, chunksize=8), strict=True):
                if isinstance(result, ReconcilerError):
                    raise result
                scans[spec.key] = result
                rows += result.rows_read
                if progress is not None:
                    progress.update(task, rows)
        if progress is not None:
            progress.finish(task)
    for spec in specs:
        if spec.key not in scans:
            scans[spec.key] = _scan_reported(spec, key, facts.get(spec.key), progress if shown else None)
    return {s.key: scans[s.key] for s in specs}


def _scan_reported(
    spec: AudienceSpec, key: bytes, facts: Facts | None, progress: ScanReporter | None
) -> SourceScan:
    """`scan_source`, its rows reported on a line of its own."""
    if progress is None:
        return scan_source(spec, key, facts=facts)
    task = progress.start(spec.key, estimated_rows(spec))
    try:
        return scan_source(spec, key, facts=facts, progress=lambda rows: progress.update(task, rows))
    finally:
        progress.finish(task)


def load_project(
    config: Path,
    backend: StateBackend | Path,
    targets: list[str] | None = None,
    env: Mapping[str, str] = os.environ,
    *,
    reuse: bool = False,
    progress: ScanReporter | None = None,
) -> Project:
    """Load and validate the declaration (provider settings take their environment defaults from
    `env`, here, once), the state (of `backend`, a state backend or a local directory) and its
    fingerprint key, scan the (targeted) audiences' sources and check every provider limit
    (ConfigError, as `validate` words it).

    With `reuse`, the sources of audiences unchanged since their last apply are only hashed
    (`Project.unchanged`): their upload is the one the provider took then, so its limits are not
    measured again, nor are their header rows read. The rest are scanned, their rows reported to
    `progress`."""
    from reconciler.config.load import check_headers, load_declaration

    declaration = load_declaration(config, env, headers=not reuse)  # with reuse: only where parsed
    store = StateStore(backend) if isinstance(backend, Path) else backend
    state = store.load()
    _check_keys("--target", targets or (), set(declaration.audiences) | set(state.audiences))
    ephemeral = not os.environ.get(FINGERPRINT_KEY_ENV) and not state.fingerprint_key
    key = store.fingerprint_key(state)
    wanted = set(targets) if targets else set(declaration.audiences)
    specs = [spec for k, spec in sorted(declaration.audiences.items()) if k in wanted]
    found = find_unchanged(declaration, specs, state, key) if reuse else Reuse()
    parse = [s for s in specs if s.key not in found.unchanged]
    check_headers(declaration, [s.key for s in parse])
    scans = scan_sources(parse, key, found.facts, progress)
    problems = check_limits(parse)
    if problems:
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        raise ConfigError(f"{config}: provider limits exceeded ({count})", problems=problems)
    return Project(
        declaration, store, state, key, scans, config_display=str(config), unchanged=found.unchanged,
        ephemeral_key=ephemeral,
    )


def ensure_scanned(project: Project, keys: Iterable[str], progress: ScanReporter | None = None) -> None:
    """Scan the sources of the declared `keys` not scanned yet (e.g. planned from state, when
    apply needs their members after all)."""
    from reconciler.config.load import check_headers

    audiences = project.declaration.audiences
    missing = sorted({k for k in keys if k in audiences and k not in project.scans})
    check_headers(project.declaration, missing)
    project.scans.update(scan_sources([audiences[k] for k in missing], project.key, progress=progress))
    for k in missing:
        project.unchanged.pop(k, None)


def _desired(
    project: Project, keys: Collection[str] | None, unchanged: Collection[str]
) -> dict[str, Desired]:
    declaration = project.declaration
    wanted = [k for k in sorted(declaration.audiences) if (keys is None or k in keys) and k not in unchanged]
    ensure_scanned(project, wanted)  # a project loaded for other targets: scan what this plan needs
    result: dict[str, Desired] = {}
    for key in wanted:
        spec = declaration.audiences[key]
        settings = provider_settings(declaration, spec.provider)
        result[key] = Desired(spec=spec, scan=project.scans[key], settings=settings)
    return result


def _validate_options(project: Project, options: PlanOptions) -> None:
    declared = set(project.declaration.audiences)
    known = declared | set(project.state.audiences)
    _check_keys("--target", options.targets, known)
    _check_keys("--allow-shrink", options.allow_shrink, known)
    _check_keys("--allow-destroy", options.allow_destroy, known)
    _check_keys("--replace", options.replace, known)
    not_declared = sorted(set(options.replace) - declared)
    if not_declared:
        raise UsageError(
            f"--replace needs an audience in the declaration; not declared: {', '.join(not_declared)}"
        )
    outside = sorted(set(options.replace) - set(options.targets)) if options.targets else []
    if outside:
        raise UsageError(f"--replace names audiences outside --target: {', '.join(outside)}")


def make_plan(project: Project, options: PlanOptions, *, now: datetime | None = None) -> Plan:
    """Diff the project against its state (pure given the loaded project), guards applied."""
    _validate_options(project, options)
    keys: set[str] | None = set(options.targets) if options.targets else None
    # a replacement re-uploads every member, and a state refreshed since loading may have moved
    # under an unchanged audience: read those sources after all
    moved = [k for k, u in project.unchanged.items() if not still_unchanged(k, u, project.state)]
    ensure_scanned(project, [*options.replace, *moved])
    unchanged = {k: u for k, u in project.unchanged.items() if keys is None or k in keys}
    desired = _desired(project, keys, unchanged)
    changes, warnings = diff(
        desired,
        project.state,
        project.store.members,
        keys=keys,
        replace=set(options.replace),
        unchanged=unchanged,
    )
    apply_guards(
        changes,
        project.declaration.audiences,
        project.state,
        allow_shrink=set(options.allow_shrink),
        allow_destroy=set(options.allow_destroy),
    )
    inputs = Inputs(
        config=project.config_display or str(project.declaration.path),
        config_sha256=project.declaration.sha256,
        sources={
            **{want.scan.source: want.scan.sha256 for want in desired.values() if not want.spec.is_query},
            **{u.spec.source.display: u.sha256 for u in unchanged.values()},
        },
        queries={key: want.scan.sha256 for key, want in desired.items() if want.spec.is_query},
        state_lineage=project.state.lineage,
        state_serial=project.state.serial,
        targets=sorted(options.targets),
        replace=sorted(options.replace),
        allow_shrink=sorted(options.allow_shrink),
        allow_destroy=sorted(options.allow_destroy),
        refresh=options.refresh,
        rescan=options.rescan,
    )
    created = (now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
    return Plan(changes=changes, inputs=inputs, created_at=created, tool_version=__version__,
                warnings=warnings)


def _state_moved(plan: Plan, state: State) -> str | None:
    was, now = plan.inputs, state
    if was.state_lineage == now.lineage and was.state_serial == now.serial:
        return None
    if was.state_lineage is None:
        return (
            f"the plan was made from empty state, but the state now has lineage {now.lineage} "
            f"serial {now.serial} (was this plan applied already?)"
        )
    if now.lineage is None:
        return f"the plan was made from state lineage {was.state_lineage}, but the state is now empty"
    if was.state_lineage != now.lineage:
        return f"the state lineage changed from {was.state_lineage} to {now.lineage}"
    return f"the state serial moved from {was.state_serial} to {now.serial} (another apply ran since)"


def _queries_moved(plan: Plan, project: Project) -> list[Problem]:
    """One problem per query source whose result digest differs from the plan's (rows changed)."""
    problems: list[Problem] = []
    declaration = project.declaration
    for key, digest in sorted(plan.inputs.queries.items()):
        spec = declaration.audiences.get(key)
        where = spec.location if spec is not None else None
        file, line, col = (where.file, where.line, where.col) if where else (plan.inputs.config, 0, 0)
        if spec is None or not spec.is_query:
            problems.append(Problem(file, line, col, f"audience '{key}' no longer reads a query source"))
            continue
        scan = project.scans.get(key)
        if scan is None:
            scan = project.scans[key] = scan_source(spec, project.key)
        if scan.sha256 != digest:
            problems.append(Problem(
                file, line, col,
                f"audience '{key}': the rows of its query ({spec.source.display}) changed since the plan "
                "was made",
            ))
    return problems


def check_plan_current(plan: Plan, project: Project) -> None:
    """Raise StalePlanError if the plan's recorded inputs no longer match the project."""
    problems: list[Problem] = []
    moved = _state_moved(plan, project.state)
    if moved:
        problems.append(Problem(project.store.location, 0, 0, moved))
    if plan.inputs.config_sha256 != project.declaration.sha256:
        problems.append(Problem(plan.inputs.config, 0, 0, "the declaration changed since the plan was made"))
    problems += _queries_moved(plan, project)
    scanned = {scan.source: scan.sha256 for scan in project.scans.values()}
    scanned |= {u.spec.source.display: u.sha256 for u in project.unchanged.values()}
    for source, sha in sorted(plan.inputs.sources.items()):
        current = scanned.get(source)
        # A source no audience reads now is never opened: with the declaration unchanged, the
        # re-derivation of the plan (planning/verify.py) names it as a difference of the file.
        if current is not None and current != sha:
            problems.append(Problem(source, 0, 0, "the source file changed since the plan was made"))
    if problems:
        raise StalePlanError(
            "The saved plan is stale: its inputs moved since it was made. Run `reconciler plan` again.",
            problems=problems,
        )
