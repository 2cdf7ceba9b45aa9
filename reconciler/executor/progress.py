"""Progress of an apply on a console: a live rich display on a terminal, plain lines otherwise."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import DownloadColumn, TaskID, TimeElapsedColumn

from reconciler.executor.report import Outcome, Status
from reconciler.planning.plan import Change
from reconciler.progressbar import LiveBar

_MARKS = {Status.SUCCEEDED: "done", Status.FAILED: "FAILED", Status.NOT_ATTEMPTED: "not attempted"}


def describe(change: Change) -> str:
    """E.g. 'create vip-customers (commbox)'."""
    how = f", {change.strategy}" if change.strategy and change.strategy != change.action.value else ""
    return f"{change.action.value} {change.address} ({change.provider}{how})"


class ConsoleReporter(LiveBar):
    """Thread-safe progress reporter. Use as a context manager around the run."""

    def __init__(self, console: Console, *, live: bool | None = None) -> None:
        self._console = console
        self._live = console.is_terminal if live is None else live
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskID] = {}
        self._steps: dict[str, int] = {}  # plain mode: last reported quarter of an upload
        super().__init__(console, self._live, DownloadColumn(), TimeElapsedColumn())

    def started(self, change: Change) -> None:
        with self._lock:
            if self._bar is not None:
                self._tasks[change.address] = self._bar.add_task(describe(change), total=None)
            else:
                self._console.print(f"{describe(change)}: started")

    def progress(self, change: Change, done: int, total: int | None) -> None:
        with self._lock:
            if self._bar is not None:
                task = self._tasks.get(change.address)
                if task is not None:
                    self._bar.update(task, completed=done, total=total)
                return
            if not total or total < (1 << 20):  # plain lines only for uploads of a megabyte or more
                return
            quarter = min(4, done * 4 // total)
            if quarter > self._steps.get(change.address, 0):
                self._steps[change.address] = quarter
                self._console.print(f"{describe(change)}: {quarter * 25}% of {total:,} bytes")

    def finished(self, outcome: Outcome) -> None:
        with self._lock:
            if self._bar is not None:
                task = self._tasks.pop(outcome.key, None)
                if task is not None:
                    self._bar.remove_task(task)
            line = f"{outcome.action} {outcome.key} ({outcome.provider}): {_MARKS[outcome.status]}"
            self._console.print(f"{line} in {outcome.seconds:.1f}s", markup=False, highlight=False)
