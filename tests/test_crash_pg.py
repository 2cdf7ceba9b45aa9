"""The postgres backend under fire, on a real server: SIGKILLed applies (the lock dies with its
holder: the next apply proceeds with no force-unlock and converges), eight concurrent applies on
one workspace, and the server restarted in the middle of an apply."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from apply_support import Project, check_exactly_once, emulator_env, fast_providers, make_six, person
from pg_support import SUPERUSER_PASSWORD, running_cluster
from test_crash_sigkill import Runs

from reconciler.emulator import Emulator, Faults

TRIALS = 20
QUOTED_PASSWORD = "s3cret-pw%2Fwith%3Aodd%40chars"


def _vary(project: Project, trial: int) -> None:
    """A different change each trial: members added and removed, Whop and Smallest renames."""
    for name in ("vip.csv", "callers.csv", "buyers.csv"):
        project.rows[name] = [*project.rows[name][1:], person(200 + 3 * trial + len(name) % 3)]
    project.audiences["buyers"]["name"] = f"Whop buyers {trial % 2}"
    project.audiences["callers-b"]["name"] = f"Callers B {trial % 2}"
    project.write()


def _wait_started(runs: Runs, pid: int, out: Path, timeout: float = 30.0) -> bool:
    """Wait until the run talks to a provider; False when it finished first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = out.read_text(encoding="utf-8", errors="replace")
        if ": started" in text or "Settling" in text:
            return True
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            runs.children.discard(pid)
            return False
        time.sleep(0.005)
    return True


def _clean(text: str) -> None:
    assert SUPERUSER_PASSWORD not in text and QUOTED_PASSWORD not in text
    assert "Traceback" not in text and "Internal error" not in text


@pytest.mark.slow
def test_sigkilled_applies_free_the_lock_and_the_next_apply_converges(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_STATE_URL", pg_url)
    rng = random.Random(int(os.environ.get("RECONCILER_KILL_SEED", "20261129")))
    project = make_six(tmp_path / "project", 8, range(30, 36), state_url=pg_url)
    fast_providers(monkeypatch)
    killed = 0
    with Emulator(port=0, faults=Faults(latency=0.03)) as emulator, emulator_env(emulator):
        runs = Runs(project, tmp_path)
        try:
            for trial in range(TRIALS):
                if trial:
                    _vary(project, trial)
                pid, out = runs._fork(["apply", "--auto-approve", *project.args()])
                if _wait_started(runs, pid, out):
                    time.sleep(rng.uniform(0.0, 0.25))
                    os.kill(pid, signal.SIGKILL)
                    status = runs.reap(pid)
                    killed += os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
                code, output = runs.complete()  # no force-unlock: the killed run's lock died with it
                assert code == 0 and "locked by" not in output, output
                check_exactly_once(project, emulator, forgotten=0)
            code, output = runs.complete("plan")
            assert code == 0, output
        finally:
            runs.kill_all()
    assert killed >= TRIALS - 3, f"only {killed} of {TRIALS} runs were killed mid-way"
    for path in runs.outputs:
        _clean(path.read_text(encoding="utf-8", errors="replace"))
    assert len(project.state_doc()["audiences"]) == 6


@pytest.mark.slow
def test_eight_concurrent_applies_one_at_a_time(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_STATE_URL", pg_url)
    project = make_six(tmp_path / "project", 8, range(30, 36), state_url=pg_url)
    fast_providers(monkeypatch)
    with Emulator(port=0, faults=Faults(latency=0.05)) as emulator, emulator_env(emulator):
        runs = Runs(project, tmp_path)
        try:
            # Fail fast: one applies, the others name the holder (or, started late, find no changes).
            started = [runs._fork(["apply", "--auto-approve", *project.args()]) for _ in range(8)]
            results = [(os.waitstatus_to_exitcode(runs.reap(pid)), out.read_text()) for pid, out in started]
            applied = [text for code, text in results if code == 0 and "6 succeeded" in text]
            blocked = [text for code, text in results if code == 1 and "is locked by" in text]
            idle = [text for code, text in results if code == 0 and "No changes" in text]
            assert len(applied) == 1 and len(applied) + len(blocked) + len(idle) == 8, results
            assert blocked, "no run met the lock"
            assert all("for 'apply' (lock id" in text and "force-unlock" in text for text in blocked)
            check_exactly_once(project, emulator, forgotten=0)
            # Waiting: every run gets the lock in turn; exactly one has changes to make.
            _vary(project, 1)
            waiting = ["apply", "--auto-approve", "--lock-timeout", "2m", *project.args()]
            started = [runs._fork(waiting) for _ in range(8)]
            results = [(os.waitstatus_to_exitcode(runs.reap(pid)), out.read_text()) for pid, out in started]
            assert all(code == 0 for code, _ in results), results
            assert sum("No changes" in text for _, text in results) == 7, results
            assert not any("changed since this run loaded it" in text for _, text in results)
            check_exactly_once(project, emulator, forgotten=0)
        finally:
            runs.kill_all()
    for path in runs.outputs:
        _clean(path.read_text(encoding="utf-8", errors="replace"))


@pytest.mark.slow
def test_server_restart_mid_apply_stops_writing_and_the_next_run_settles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_providers(monkeypatch)
    with running_cluster() as cluster:
        url = cluster.new_database()
        monkeypatch.setenv("RECONCILER_STATE_URL", url)
        project = make_six(tmp_path / "project", 8, range(30, 36), state_url=url)
        with Emulator(port=0, faults=Faults(latency=0.15)) as emulator, emulator_env(emulator):
            runs = Runs(project, tmp_path)
            try:
                pid, out = runs._fork(["apply", "--auto-approve", "--parallelism", "1", *project.args()])
                assert _wait_started(runs, pid, out)
                time.sleep(0.2)
                cluster.restart("fast")  # every session is cut, the lock's included
                code = os.waitstatus_to_exitcode(runs.reap(pid))
                text = out.read_text()
                assert code == 1 and "lost the state lock" in text and "stopped writing" in text, text
                code, text = runs.complete()
                assert code == 0, text
                check_exactly_once(project, emulator, forgotten=0)
                code, text = runs.complete("plan")
                assert code == 0, text
            finally:
                runs.kill_all()
        for path in runs.outputs:
            _clean(path.read_text(encoding="utf-8", errors="replace"))
