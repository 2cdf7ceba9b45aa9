"""Scan progress: rows read, rows a second and time left on a terminal; silent otherwise and in CI."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from planhelpers import phone, spec, write_csv
from rich.console import Console

from reconciler.config.model import SourceSpec
from reconciler.planning.engine import estimated_rows, scan_sources
from reconciler.scanprogress import ScanProgress, scan_progress_wanted


class Recorder:
    """A ScanReporter that keeps what it is told."""

    active = True

    def __init__(self) -> None:
        self.lines: dict[int, str] = {}
        self.totals: dict[int, int | None] = {}
        self.rows: dict[int, list[int]] = {}
        self.finished: list[int] = []

    def start(self, label: str, total_rows: int | None) -> int:
        task = len(self.lines)
        self.lines[task], self.totals[task], self.rows[task] = label, total_rows, []
        return task

    def update(self, task: Any, rows: int) -> None:
        self.rows[task].append(rows)

    def finish(self, task: Any) -> None:
        self.finished.append(task)


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120), out


def test_a_terminal_shows_rows_rate_and_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    console, out = terminal()
    with ScanProgress(console) as progress:
        assert progress.active
        task = progress.start("vip-customers", 1_000_000)
        progress.update(task, 250_000)
    shown = out.getvalue()
    assert "reading vip-customers" in shown and "250,000 rows" in shown
    assert re.search(r"-:--:--|\d+:\d\d:\d\d", shown.split("250,000 rows")[-1])  # time left


@pytest.mark.parametrize("ci", [None, "true"])
def test_silent_when_not_a_terminal_or_in_ci(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    if ci is None:
        out = io.StringIO()
        console = Console(file=out, force_terminal=False)
    else:
        monkeypatch.setenv("CI", ci)
        console, out = terminal()
    assert not scan_progress_wanted(console)
    with ScanProgress(console) as progress:
        task = progress.start("vip", 10)
        progress.update(task, 5)
        progress.finish(task)
    assert out.getvalue() == ""


def test_scans_report_rows_per_audience(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    write_csv(path, "Mobile,First", [f"{phone(i % 1000)},N{i}" for i in range(25_000)])
    big = spec("big", source=SourceSpec(path=path, display="big.csv"))
    recorder = Recorder()
    scans = scan_sources([big], b"k", progress=recorder)
    assert list(recorder.lines.values()) == ["big"]
    counts = recorder.rows[0]
    assert counts == sorted(counts) and counts[-1] == scans["big"].rows_read == 25_000 and len(counts) > 1
    total = recorder.totals[0]
    assert total is not None and abs(total - 25_000) < 2_500  # estimated from the first 64 KB
    assert recorder.finished == [0]


def test_many_small_sources_share_one_line(tmp_path: Path) -> None:
    specs = []
    for n in range(25):
        path = tmp_path / f"s{n}.csv"
        write_csv(path, "Mobile,First", [f"{phone(n * 10 + i)},N" for i in range(5)])
        specs.append(spec(f"s{n}", source=SourceSpec(path=path, display=f"s{n}.csv")))
    recorder = Recorder()
    scan_sources(specs, b"k", progress=recorder)
    assert list(recorder.lines.values()) == ["25 small sources"]
    assert recorder.rows[0][-1] == 125 and recorder.totals[0] == 125


def test_estimated_rows_of_unreadable_or_excel_sources(tmp_path: Path) -> None:
    missing = spec("m", source=SourceSpec(path=tmp_path / "none.csv", display="none.csv"))
    excel = spec("x", source=SourceSpec(path=tmp_path / "a.xlsx", display="a.xlsx"))
    assert estimated_rows(missing) is None and estimated_rows(excel) is None


def test_the_display_starts_no_thread_so_scans_may_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scans start worker processes by forking only a single-threaded process: the display redraws
    when told of rows instead of from a refresh thread of its own."""
    import threading

    from reconciler.sources.parallel import start_method

    monkeypatch.delenv("CI", raising=False)
    console, out = terminal()
    before = threading.active_count()
    with ScanProgress(console) as progress:
        assert progress.active and threading.active_count() == before
        task = progress.start("big", 1_000)
        progress.update(task, 500)
        if before == 1:
            assert start_method() == "fork"
    assert "500 rows" in out.getvalue()
