"""`reconciler apply [PLANFILE]`: make the providers match the declaration, recording it in state.

With PLANFILE, carry out exactly that saved plan: it is re-derived from its pinned inputs and refused
when those moved, or when the file says anything else (see planning/verify.py). Without, plan
now, show it, and ask (or require --auto-approve when not on a terminal). The state lock is held
for the whole run; intents left by an interrupted run are settled first.

Exit codes: 0 done (or no changes), 1 error or any change failed, 3 refused by a safety guard,
130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from reconciler import console
from reconciler.app import (
    add_config_flags,
    add_lock_timeout_flag,
    add_rescan_flag,
    derive_plan,
    lock_timeout,
    open_state,
    print_rendering,
    state_dir,
    state_lock,
)
from reconciler.errors import GuardError, PlanError, StalePlanError, UsageError
from reconciler.executor import (
    DEFAULT_PARALLELISM,
    ApplyReport,
    Journal,
    ProviderPool,
    SettleResult,
    Status,
    execute,
    settle_pending,
)
from reconciler.executor.progress import ConsoleReporter
from reconciler.planning.engine import (
    PlanOptions,
    Project,
    check_plan_current,
    ensure_scanned,
    load_project,
    make_plan,
    options_of,
    plan_checksum_key,
)
from reconciler.planning.plan import Action, Plan
from reconciler.planning.planfile import load_plan
from reconciler.planning.reuse import backfilled_entries
from reconciler.planning.verify import verify_saved_plan
from reconciler.providers.base import Endpoint
from reconciler.safetext import printable
from reconciler.scanprogress import ScanProgress
from reconciler.state.backend import StateBackend
from reconciler.state.store import StateStore

EXIT_INTERRUPTED = 130
PROMPT = "Apply these changes? Only 'yes' is accepted: "


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `apply` command."""
    parser = subparsers.add_parser(
        "apply",
        help="make the providers match the declaration",
        description="Carry out a saved plan, or plan now and ask before applying.",
    )
    parser.add_argument("planfile", nargs="?", metavar="PLANFILE", help="a plan saved by `plan --out`")
    add_config_flags(parser)
    add_lock_timeout_flag(parser)
    parser.add_argument("--auto-approve", action="store_true", help="apply without asking (for CI)")
    parser.add_argument(
        "--parallelism",
        type=int,
        default=DEFAULT_PARALLELISM,
        metavar="N",
        help=f"changes run at once per provider (default: {DEFAULT_PARALLELISM})",
    )
    parser.add_argument(
        "--target", action="append", default=[], metavar="KEY", help="apply only this audience (repeatable)"
    )
    parser.add_argument(
        "--replace", action="append", default=[], metavar="KEY", help="replace this audience (repeatable)"
    )
    parser.add_argument(
        "--allow-shrink",
        action="append",
        default=[],
        metavar="KEY",
        help="allow this audience to lose more members than its max_shrink",
    )
    parser.add_argument(
        "--allow-destroy",
        action="append",
        default=[],
        metavar="KEY",
        help="allow replacing, deleting or forgetting this protected audience",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="apply to a fresh local emulator with separate, throw-away state "
        "(<state>/.sandbox/); needs no credentials",
    )
    add_rescan_flag(parser)
    parser.set_defaults(func=run)


def _options(args: argparse.Namespace) -> PlanOptions:
    return PlanOptions(
        targets=list(dict.fromkeys(args.target)),
        replace=list(dict.fromkeys(args.replace)),
        allow_shrink=list(dict.fromkeys(args.allow_shrink)),
        allow_destroy=list(dict.fromkeys(args.allow_destroy)),
        rescan=args.rescan,
    )


def _check_args(args: argparse.Namespace) -> None:
    if args.parallelism < 1:
        raise UsageError(f"--parallelism must be at least 1, not {args.parallelism}")
    if args.planfile:
        given = [
            flag
            for flag, value in (
                ("--target", args.target),
                ("--replace", args.replace),
                ("--allow-shrink", args.allow_shrink),
                ("--allow-destroy", args.allow_destroy),
                ("--rescan", args.rescan),
            )
            if value
        ]
        if given:
            raise UsageError(
                f"{', '.join(given)} shape a plan: pass them to `reconciler plan`, not with a saved PLANFILE"
            )
        if args.sandbox:
            raise UsageError(
                "--sandbox starts from empty state on every run, so it cannot carry out a saved plan; "
                "run `reconciler apply --sandbox` without PLANFILE"
            )


def run(args: argparse.Namespace) -> int:
    """Apply; return the exit code."""
    _check_args(args)
    timeout = lock_timeout(args)
    if args.sandbox:
        from reconciler.emulator.sandbox import sandbox, wipe

        with sandbox(state_dir(args)) as box:
            sys.stderr.write(box.describe() + "\n")
            try:
                wiped, local = partial(wipe, box.state_dir), StateStore(box.state_dir)
                return _apply(args, local, timeout, box.env, box.endpoints, prepare=wiped)
            finally:
                sys.stderr.write(box.farewell() + "\n")
    with open_state(args) as store:
        return _apply(args, store, timeout)


def _apply(
    args: argparse.Namespace,
    store: StateBackend,
    timeout: float,
    env: Mapping[str, str] = os.environ,
    endpoints: Mapping[str, Endpoint] | None = None,
    prepare: Callable[[], None] | None = None,
) -> int:
    """Plan (or load, verify and re-derive the saved plan) and carry it out. `env` is the environment
    the run reads (provider tokens, setting defaults); `endpoints` (the sandbox) seals every provider
    to one URL; `prepare` runs first under the state lock (the sandbox wipes its state there)."""
    saved: tuple[Plan, dict[str, Any]] | None = load_plan(Path(args.planfile)) if args.planfile else None
    targets = (saved[0].inputs.targets if saved is not None else _options(args).targets) or None
    with state_lock(store, "apply", timeout):
        if prepare is not None:
            prepare()
        # a saved plan is re-derived as it was made: reading every source when made with --rescan
        rescan = saved[0].inputs.rescan if saved is not None else args.rescan
        try:
            with ScanProgress(console.stderr()) as progress:
                project = load_project(
                    Path(args.config), store, targets, env, reuse=not rescan, progress=progress
                )
        except UsageError as exc:
            if saved is None:
                raise
            raise _misfit(args.planfile, exc) from None
        verified = _verify(args.planfile, saved, project) if saved is not None else None
        with ProviderPool(project.declaration, env, endpoints) as pool:
            journal = Journal(project.store, project.state)
            settled = _settle(journal, pool, project)
            project.state = journal.state
            plan = verified if verified is not None else make_plan(project, _options(args))
            if saved is not None:
                _check_still_current(plan, settled)
            if not plan.has_changes:
                _backfill(journal, project, plan)
                sys.stdout.write("No changes. The providers match the declaration.\n")
                return 0
            if saved is not None:
                counts = ", ".join(f"{n} to {a}" for a, n in plan.summary().items() if n and a != "no-op")
                sys.stderr.write(f"Applying the saved plan {args.planfile}: {counts}.\n")
            else:
                print_rendering(plan.to_dict(), "text")
                if plan.refused:
                    raise GuardError(_refusal(plan))
                _confirm(args.auto_approve)
            # audiences planned from state are no-ops; a change needs the members of its source
            with ScanProgress(console.stderr()) as progress:
                changing = [c.address for c in plan.changes if c.action is not Action.NOOP]
                ensure_scanned(project, changing, progress)
            with ConsoleReporter(console.stderr()) as reporter:
                report = execute(
                    plan,
                    project.declaration,
                    project.scans,
                    journal,
                    pool,
                    project.key,
                    parallelism=args.parallelism,
                    reporter=reporter,
                    blocked=settled.failed,
                )
            if not report.interrupted:
                _backfill(journal, project, plan)
    _print_report(report)
    if report.interrupted:
        return EXIT_INTERRUPTED
    return 1 if report.failed else 0


def _backfill(journal: Journal, project: Project, plan: Plan) -> None:
    """Record, for the no-op audiences whose sources this run read in full, what the next plan
    needs to skip them (state written before 0.2.0, or under another normaliser)."""
    noops = [c.address for c in plan.changes if c.action is Action.NOOP]
    entries = backfilled_entries(project.declaration, journal.state, project.scans, noops, project.key)
    journal.record(entries)
    if entries:
        count = f"{len(entries)} unchanged audience" + ("s" if len(entries) != 1 else "")
        sys.stderr.write(f"Recorded how the sources of {count} were read: the next plan skips them.\n")


def _misfit(name: str, exc: UsageError) -> PlanError:
    return PlanError(f"{name}: the plan file's inputs do not fit this project: {exc}")


def _verify(name: str, saved: tuple[Plan, dict[str, Any]], project: Project) -> Plan:
    """The saved plan as re-derived from its inputs, once verified: refused when its inputs moved,
    its checksum does not match, or it says anything other than that plan (PlanError); GuardError
    (exit 3) when the verified plan is refused by a guard. Only the re-derived plan is carried out."""
    plan, document = saved
    check_plan_current(plan, project)
    try:
        derived = derive_plan(project, options_of(plan.inputs))
    except UsageError as exc:
        raise _misfit(name, exc) from None
    verify_saved_plan(document, name, derived, plan_checksum_key(project))
    if derived.refused:
        raise GuardError(_refusal(derived))
    return derived


def _settle(journal: Journal, pool: ProviderPool, project: Project) -> SettleResult:
    if not journal.pending():
        return SettleResult()
    sys.stderr.write(f"Settling {len(journal.pending())} intent(s) left by an interrupted run...\n")
    result = settle_pending(journal, pool, project.scans)
    for line in result.lines:
        sys.stderr.write(f"  {line}\n")
    for key, reason in sorted(result.failed.items()):
        sys.stderr.write(f"  {key}: {reason}; its changes will not be attempted\n")
    return result


def _check_still_current(plan: Plan, settled: SettleResult) -> None:
    moved = sorted(settled.changed_keys & {c.address for c in plan.changes})
    if moved:
        raise StalePlanError(
            f"settling the interrupted run changed the state of {', '.join(moved)}, so the saved plan no "
            "longer describes it: run `reconciler plan` again"
        )


def _refusal(plan: Plan) -> str:
    lines = ["the plan was refused by a safety guard; nothing was applied:"]
    for change in plan.refused:
        assert change.guard is not None
        lines.append(f"  {change.address}: {change.guard.message} (allow with {change.guard.allow_flag})")
    return "\n".join(lines)


def _confirm(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise UsageError("not asking for approval: stdin is not a terminal; pass --auto-approve to apply")
    sys.stdout.write("\n")
    sys.stdout.flush()
    try:
        answer = input(PROMPT)
    except EOFError:
        answer = ""
    if answer.strip() != "yes":
        raise UsageError("apply cancelled: only 'yes' is accepted")


def _print_report(report: ApplyReport) -> None:
    out = console.stdout()
    pad = max(len(s.value) for s in Status)
    marks = {
        Status.SUCCEEDED: f"[green]{'ok':<{pad}}[/]",
        Status.FAILED: f"[red]{'FAILED':<{pad}}[/]",
        Status.NOT_ATTEMPTED: f"[yellow]{'not attempted':<{pad}}[/]",
    }
    out.print()
    width = max((len(o.key) for o in report.outcomes), default=0)
    for outcome in report.outcomes:
        out.print(f"  {marks[outcome.status]}  ", end="")
        message = printable(outcome.message)  # provider answers are data: never sent to the terminal raw
        line = f"{outcome.key:<{width}}  {outcome.provider:<8}  {outcome.action:<7}  {message}"
        out.print(line, markup=False)
        for warning in outcome.warnings:
            out.print(f"      warning: {printable(warning)}", markup=False)
    if report.interrupted:
        out.print("Interrupted: running changes were finished and recorded; the rest were not attempted.")
    out.print(report.summary() + (" Every success is recorded in state." if report.outcomes else ""))
