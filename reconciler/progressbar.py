"""A transient rich progress display shown only when wanted, shared by apply's and scans' progress."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn


class LiveBar:
    """Owns a transient `Progress` (spinner, description, bar, then `columns`) when `shown`;
    nothing at all otherwise. Use as a context manager around the work it reports."""

    def __init__(
        self, console: Console, shown: bool, *columns: ProgressColumn, auto_refresh: bool = True
    ) -> None:
        """`auto_refresh`: redraw from rich's own thread (False: the owner calls `refresh`)."""
        self._bar: Progress | None = None
        if shown:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn  # only when shown

            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                *columns,
                console=console,
                transient=True,
                auto_refresh=auto_refresh,
            )

    def __enter__(self) -> Self:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
