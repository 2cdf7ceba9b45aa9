"""Per-provider concurrency of the executor, and its progress output."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from apply_support import cli, emulator_env, fast_sleep, make_project
from rich.console import Console

from reconciler.emulator import Emulator, Faults
from reconciler.executor.progress import ConsoleReporter
from reconciler.executor.report import Outcome, Status
from reconciler.planning.plan import Action, Change
from reconciler.providers import make_provider


class InFlight:
    """Counts concurrent `create` calls per provider."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def wrap(self, name: str, settings: Any, env: Any) -> Any:
        provider = make_provider(name, settings, env, sleep=fast_sleep)
        create = provider.create

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.now[name] = self.now.get(name, 0) + 1
                self.peak[name] = max(self.peak.get(name, 0), self.now[name])
            try:
                return create(*args, **kwargs)
            finally:
                with self.lock:
                    self.now[name] -= 1

        provider.create = counted  # type: ignore[method-assign]
        return provider


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(port=0, faults=Faults(latency=0.05)) as em, emulator_env(em):
        yield em


def _many(root: Path) -> Any:
    project = make_project(root)
    for n in range(6):
        for key in ("vip", "callers"):
            spec = dict(project.audiences[key])
            spec["name"] = f"{spec['name']} {n}"
            project.audiences[f"{key}-{n}"] = spec
    project.write()
    return project


@pytest.mark.parametrize("parallelism", [1, 3])
def test_at_most_n_calls_at_once_per_provider(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, parallelism: int
) -> None:
    counter = InFlight()
    monkeypatch.setattr("reconciler.executor.pool.make_provider", counter.wrap)
    project = _many(tmp_path)
    result = cli("apply", "--auto-approve", "--parallelism", str(parallelism), *project.args())
    assert result.code == 0, result.out + result.err
    # 7 creates each: never more than N at once, and with N > 1 they really overlap.
    for provider in ("commbox", "smallest"):
        assert counter.peak[provider] <= parallelism
        assert counter.peak[provider] >= min(parallelism, 2)
    assert counter.peak["whop"] == 1


def _change(key: str) -> Change:
    return Change(address=key, provider="commbox", action=Action.CREATE, strategy="create")


def test_plain_progress_lines_when_not_a_terminal() -> None:
    buffer = io.StringIO()
    reporter = ConsoleReporter(Console(file=buffer, force_terminal=False, width=200))
    with reporter:
        reporter.started(_change("vip"))
        for done in range(0, 8 << 20, 1 << 20):
            reporter.progress(_change("vip"), done, 8 << 20)
        reporter.finished(Outcome("vip", "commbox", "create", Status.SUCCEEDED, "created 1", seconds=1.25))
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "create vip (commbox): started"
    assert [line.split(": ")[1] for line in lines[1:-1]] == [
        "25% of 8,388,608 bytes",
        "50% of 8,388,608 bytes",
        "75% of 8,388,608 bytes",
    ]
    assert lines[-1] == "create vip (commbox): done in 1.2s"


def test_live_progress_on_a_terminal_ends_with_the_outcome() -> None:
    buffer = io.StringIO()
    reporter = ConsoleReporter(Console(file=buffer, force_terminal=True, width=120))
    with reporter:
        reporter.started(_change("vip"))
        reporter.progress(_change("vip"), 10, 100)
        time.sleep(0.05)
        reporter.finished(Outcome("vip", "commbox", "create", Status.FAILED, "boom", seconds=0.5))
    assert "create vip (commbox): FAILED in 0.5s" in buffer.getvalue()


def test_ctrl_c_finishes_running_changes_and_skips_the_rest(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import concurrent.futures

    def interrupted_wait(futures: Any, *args: Any, **kwargs: Any) -> Any:
        concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_COMPLETED)
        raise KeyboardInterrupt  # as if Ctrl-C came once the first change was done

    monkeypatch.setattr("reconciler.executor.run.wait", interrupted_wait)
    monkeypatch.setattr("reconciler.executor.pool.make_provider", partial(make_provider, sleep=fast_sleep))
    project = _many(tmp_path)
    result = cli(
        "apply",
        "--auto-approve",
        "--parallelism",
        "1",
        "--target",
        "callers",
        *(arg for n in range(6) for arg in ("--target", f"callers-{n}")),
        *project.args(),
    )
    assert result.code == 130, result.out + result.err
    assert "Interrupted" in result.out and "not attempted" in result.out
    state = project.state_doc()
    done = len(state["audiences"])
    assert 1 <= done < 7 and state["intents"] == []  # what ran is recorded; nothing half-done
    assert len(emulator.audiences("smallest")) == done
    monkeypatch.setattr("reconciler.executor.run.wait", concurrent.futures.wait)
    assert cli("apply", "--auto-approve", *project.args()).code == 0  # the rest, next time
