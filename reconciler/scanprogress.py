"""Progress of source scans on a terminal: rows read, rows a second and time left, one line per
audience. Built like apply's progress (executor/progress.py: a transient rich display on the
stderr console), but shown only on a terminal and never in CI: silent otherwise.

Kept outside the executor package so that `plan` does not import the provider clients."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from reconciler.progressbar import LiveBar

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import ProgressColumn, TaskID


def _columns() -> tuple[ProgressColumn, ...]:
    """Rows read (`12,345 rows, 48,000 rows/s`) and time left; rich.progress is imported only
    when a display is shown."""
    from rich.progress import ProgressColumn, Task, TimeRemainingColumn
    from rich.text import Text

    class RowsColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            rate = f", {speed:,.0f} rows/s" if speed else ""
            return Text(f"{int(task.completed):,} rows{rate}")

    return RowsColumn(), TimeRemainingColumn()


def scan_progress_wanted(console: Console) -> bool:
    """Scan progress is shown only on a terminal, and never in CI (where logs keep every frame)."""
    return console.is_terminal and not os.environ.get("CI")


class ScanProgress(LiveBar):
    """The planning engine's `ScanReporter` on a console. Sources scanned together on the process
    pool share one line. Use as a context manager around the scans; not thread-safe.

    It starts no thread (it redraws when told of rows, at most every REDRAW_SECONDS): the scans
    start worker processes, and only a single-threaded process may start them by forking."""

    REDRAW_SECONDS = 0.1

    def __init__(self, console: Console, *, live: bool | None = None) -> None:
        shown = scan_progress_wanted(console) if live is None else live
        super().__init__(console, shown, *(_columns() if shown else ()), auto_refresh=False)
        self._drawn = 0.0

    @property
    def active(self) -> bool:
        """Whether anything is shown (callers skip estimating totals otherwise)."""
        return self._bar is not None

    def start(self, label: str, total_rows: int | None) -> TaskID | None:
        """A line for one audience (or a group of small sources) expecting about `total_rows`."""
        if self._bar is None:
            return None
        task = self._bar.add_task(f"reading {label}", total=total_rows or None)
        self._redraw(force=True)
        return task

    def update(self, task: TaskID | None, rows: int) -> None:
        """`rows` read so far on the line `task`."""
        if self._bar is not None and task is not None:
            self._bar.update(task, completed=rows)
            self._redraw()

    def finish(self, task: TaskID | None) -> None:
        if self._bar is not None and task is not None:
            self._bar.remove_task(task)
            self._redraw(force=True)

    def _redraw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._bar is not None and (force or now - self._drawn >= self.REDRAW_SECONDS):
            self._drawn = now
            self._bar.refresh()
