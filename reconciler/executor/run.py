"""Run a plan's changes through the providers: per-provider worker pools, one outcome per change."""

from __future__ import annotations

import os
import tempfile
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from reconciler.config.model import Declaration
from reconciler.errors import AuthError, ReconcilerError
from reconciler.executor.journal import Journal
from reconciler.executor.pool import ProviderPool
from reconciler.executor.report import ApplyReport, Outcome, Status
from reconciler.executor.settle import settle_pending
from reconciler.executor.step import Step
from reconciler.executor.strategies import strategy_for
from reconciler.planning.plan import Action, Change, Plan
from reconciler.sources.members import SourceScan

DEFAULT_PARALLELISM = 4


class Reporter(Protocol):
    """Progress callbacks; called from worker threads (implementations must be thread-safe)."""

    def started(self, change: Change) -> None: ...

    def progress(self, change: Change, done: int, total: int | None) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...


class SilentReporter:
    """A reporter that reports nothing."""

    def started(self, change: Change) -> None:
        return None

    def progress(self, change: Change, done: int, total: int | None) -> None:
        return None

    def finished(self, outcome: Outcome) -> None:
        return None


def execute(
    plan: Plan,
    declaration: Declaration,
    scans: dict[str, SourceScan],
    journal: Journal,
    pool: ProviderPool,
    key: bytes,
    *,
    parallelism: int = DEFAULT_PARALLELISM,
    reporter: Reporter | None = None,
    blocked: dict[str, str] | None = None,
) -> ApplyReport:
    """Carry out every change of `plan` that is not a no-op; `blocked` keys are not attempted.

    Up to `parallelism` changes run at once per provider. Every success is in state when this
    returns; nothing raises for a failed change (see the report). Ctrl-C stops starting new
    changes, lets running ones finish, and marks the rest not attempted."""
    changes = [c for c in plan.changes if c.action is not Action.NOOP]
    outcomes: dict[str, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="reconciler-apply-") as tmp:
        run = _Run(declaration, scans, journal, pool, key, Path(tmp), reporter or SilentReporter())
        workers: dict[str, ThreadPoolExecutor] = {}
        futures: dict[Future[Outcome], Change] = {}
        interrupted = False
        try:
            for change in changes:
                if blocked and change.address in blocked:
                    outcomes[change.address] = _skipped(change, blocked[change.address])
                    continue
                if change.provider not in workers:
                    workers[change.provider] = ThreadPoolExecutor(
                        max_workers=max(1, parallelism), thread_name_prefix=f"apply-{change.provider}"
                    )
                futures[workers[change.provider].submit(run.job, change)] = change
            wait(futures)
        except KeyboardInterrupt:
            run.stop.set()
            for worker in workers.values():
                worker.shutdown(wait=True, cancel_futures=True)
            interrupted = True
        finally:
            for worker in workers.values():
                worker.shutdown(wait=True)
        for future, change in futures.items():
            if future.cancelled() or not future.done():
                outcomes[change.address] = _skipped(change, "interrupted before it started")
            else:
                outcomes[change.address] = future.result()
    return ApplyReport(
        outcomes=[outcomes[c.address] for c in changes if c.address in outcomes], interrupted=interrupted
    )


def _skipped(change: Change, reason: str) -> Outcome:
    return _outcome(change, Status.NOT_ATTEMPTED, reason)


@dataclass
class _Run:
    """What every change of one run shares; `job` is called from the worker threads."""

    declaration: Declaration
    scans: dict[str, SourceScan]
    journal: Journal
    pool: ProviderPool
    key: bytes
    workdir: Path
    reporter: Reporter
    stop: threading.Event = field(default_factory=threading.Event)  # set on Ctrl-C
    halted: dict[str, str] = field(default_factory=dict)  # provider -> why its changes are skipped
    lock: threading.Lock = field(default_factory=threading.Lock)

    def job(self, change: Change) -> Outcome:
        """Run `change` unless the run was interrupted or its provider rejected the credentials."""
        if self.stop.is_set():
            return _skipped(change, "interrupted before it started")
        with self.lock:
            reason = self.halted.get(change.provider)
        if reason:
            return _skipped(change, reason)
        return self.run_change(change)

    def run_change(self, change: Change) -> Outcome:
        """Run one change and turn whatever happens into an Outcome (never raises)."""
        began = time.monotonic()
        self.reporter.started(change)
        step: Step | None = None
        try:
            step = self._step(change)
            outcome = _outcome(change, Status.SUCCEEDED, strategy_for(change)(step), step)
        except AuthError as exc:
            with self.lock:  # the token is wrong: no more calls to this provider
                self.halted.setdefault(
                    change.provider, f"not attempted after {change.provider} rejected the credentials"
                )
            outcome = _outcome(change, Status.FAILED, exc.message, step)
        except ReconcilerError as exc:
            outcome = _outcome(change, Status.FAILED, exc.message, step)
        except Exception as exc:  # a bug must not lose the report of the other changes
            detail = traceback.format_exc() if os.environ.get("RECONCILER_DEBUG") else type(exc).__name__
            outcome = _outcome(change, Status.FAILED, f"internal error (a bug in reconciler): {detail}", step)
        if outcome.status is Status.FAILED:
            self._settle_after_failure(outcome)
        outcome.seconds = time.monotonic() - began
        self.reporter.finished(outcome)
        return outcome

    def _step(self, change: Change) -> Step:
        provider = self.pool.get(change.provider)
        recorded = self.journal.entry(change.address)

        def progress(done: int, total: int | None) -> None:
            return self.reporter.progress(change, done, total)

        return Step(
            change=change,
            provider=provider,
            old_provider=self.pool.get(recorded.provider) if recorded is not None else provider,
            journal=self.journal,
            key=self.key,
            workdir=self.workdir,
            spec=self.declaration.audiences.get(change.address),
            scan=self.scans.get(change.address),
            provider_settings=self.pool.settings(change.provider),
            progress=progress,
        )

    def _settle_after_failure(self, outcome: Outcome) -> None:
        """A failed call may still have landed (its answer lost): settle the key's intents now by
        reading the provider. When that shows the change was carried out, the outcome is a success."""
        key, journal = outcome.key, self.journal
        if not any(i.key == key for i in journal.pending()):
            return
        try:
            result = settle_pending(journal, self.pool, self.scans, keys={key})
        except ReconcilerError as exc:  # e.g. the state cannot be written: the next apply settles it
            outcome.warnings.append(
                f"could not settle after the failure ({exc.message}); the next apply will"
            )
            return
        outcome.warnings.extend(line.removeprefix(f"{key}: ") for line in result.lines)
        outcome.warnings.extend(f"{why}; the next apply will try again" for why in result.failed.values())
        done = key in result.completed and key not in result.failed
        if done and not any(i.key == key for i in journal.pending()):
            outcome.warnings.insert(
                0, f"the provider's answer was lost ({outcome.message}), but the change had landed"
            )
            outcome.status = Status.SUCCEEDED
            entry = journal.entry(key)
            outcome.provider_id = entry.provider_id if entry is not None else outcome.provider_id
            outcome.message = "completed (confirmed by reading the provider)"


def _outcome(change: Change, status: Status, message: str, step: Step | None = None) -> Outcome:
    return Outcome(
        change.address,
        change.provider,
        change.action.value,
        status,
        message,
        warnings=step.warnings if step else [],
        provider_id=step.provider_id if step else None,
    )
