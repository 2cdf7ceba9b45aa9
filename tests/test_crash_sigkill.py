"""kill -9 `reconciler apply` at random instants, many times; then one apply must finish the job
with every audience existing exactly once at its provider, its id in state, and plan a no-op.

Each run is a forked child process (so it starts without re-importing) talking over loopback to
the emulator in this process; RECONCILER_KILL_SEED picks other instants."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
from apply_support import Project, check_exactly_once, emulator_env, fast_providers, make_six, person

from reconciler.cli import main
from reconciler.emulator import Emulator, Faults

KILLS_PER_PHASE = 7  # runs killed mid-way in each of the three phases
ATTEMPTS_PER_PHASE = 14
TIME_BUDGET = 40.0  # seconds of killing, at most


def _second_version(project: Project) -> None:
    """Every kind of change: member updates, a Whop removal (replace), renames, a removal."""
    project.rows["vip.csv"] = project.rows["vip.csv"][3:] + [person(i) for i in range(60, 64)]
    project.rows["callers.csv"] = project.rows["callers.csv"][3:] + [person(i) for i in range(60, 64)]
    project.rows["buyers.csv"] = project.rows["buyers.csv"] + [person(70)]  # append
    project.rows["buyers_b.csv"] = project.rows["buyers_b.csv"][1:]  # a removal: new audience
    project.audiences["callers-b"]["name"] = "Callers B renamed"  # Smallest: new audience
    project.audiences["buyers"]["name"] = "Whop buyers renamed"  # Whop: PATCH
    del project.audiences["vip-b"]  # CommBox: forgotten
    project.write()


def _third_version(project: Project) -> None:
    """More of the same on the changed project, plus a new audience and a CommBox rename (each
    within the shrink guard)."""
    project.rows["callers.csv"] = project.rows["callers.csv"][3:] + [person(i) for i in range(80, 86)]
    project.rows["buyers_b.csv"] = project.rows["buyers_b.csv"][2:]  # another Whop replacement
    project.rows["vip.csv"] = project.rows["vip.csv"][:-2]
    project.audiences["vip"]["name"] = "VIP renamed"  # CommBox: new audience, old one forgotten
    project.audiences["callers-b"]["name"] = "Callers B"  # Smallest: back to the old name
    project.audiences["smallest-new"] = {
        **project.audiences["callers"],
        "name": "Newcomers",
        "source": "data/newcomers.csv",
    }
    project.rows["newcomers.csv"] = [person(i) for i in range(100, 108)]
    project.write()


class Runs:
    """Runs `reconciler apply` in forked child processes (imports already done, so a run starts in
    milliseconds) and SIGKILLs them; keeps everything they printed."""

    def __init__(self, project: Project, workdir: Path) -> None:
        self.project, self.workdir = project, workdir
        self.outputs: list[Path] = []
        self.kills = 0
        self.children: set[int] = set()

    def _fork(self, argv: list[str]) -> tuple[int, Path]:
        out = self.workdir / f"run-{len(self.outputs):03d}.log"
        self.outputs.append(out)
        out.touch()
        pid = os.fork()
        if pid == 0:  # the child: run the CLI with stdout and stderr going to `out`
            code = 99
            try:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                sys.stdout = sys.stderr = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
                code = main(argv)
            finally:
                os._exit(code)
        self.children.add(pid)
        return pid, out

    def reap(self, pid: int) -> int:
        """Wait for child `pid`; its wait status."""
        _, status = os.waitpid(pid, 0)
        self.children.discard(pid)
        return status

    def kill_all(self) -> None:
        """SIGKILL and reap every child still around (after a failed assertion)."""
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self.reap(pid)

    def killed_at(self, delay: float, *, after_start: bool) -> bool:
        """Start apply; SIGKILL it `delay` s after it starts provider work (or after launch).
        True when it was killed before it finished."""
        pid, out = self._fork(["apply", "--auto-approve", *self.project.args()])
        deadline = time.monotonic() + 20
        while after_start and time.monotonic() < deadline:
            text = out.read_text(encoding="utf-8", errors="replace")
            if ": started" in text or "Settling" in text:
                break
            if os.waitpid(pid, os.WNOHANG) != (0, 0):  # finished already (nothing to do)
                self.children.discard(pid)
                return False
            time.sleep(0.005)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)  # a zombie until reaped: never ProcessLookupError
        status = self.reap(pid)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        self.kills += killed
        return killed

    def complete(self, command: str = "apply") -> tuple[int, str]:
        """Run `command` to completion in a child; (exit code, output)."""
        flag = "--auto-approve" if command == "apply" else "--detailed-exitcode"
        pid, out = self._fork([command, flag, *self.project.args()])
        status = self.reap(pid)
        return os.waitstatus_to_exitcode(status), out.read_text(encoding="utf-8")


@pytest.mark.slow
def test_sigkill_at_random_points_never_duplicates_or_loses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_url: str | None
) -> None:
    rng = random.Random(int(os.environ.get("RECONCILER_KILL_SEED", "20261123")))
    project = make_six(tmp_path / "project", 12, range(30, 40), state_url)
    began = time.monotonic()
    fast_providers(monkeypatch)
    with Emulator(port=0, faults=Faults(latency=0.05)) as emulator, emulator_env(emulator):
        runs = Runs(project, tmp_path)
        try:
            _phases(runs, project, emulator, rng, began)
        finally:
            runs.kill_all()
        tokens = list(emulator.tokens.values())
    written = [p.read_bytes().decode("utf-8", "replace") for p in project.state.rglob("*") if p.is_file()]
    if state_url:  # everything the postgres workspace holds
        store = project.backend()
        snapshot = store.snapshot()
        store.close()
        stored = [snapshot.document or b"", *(v.document for v in snapshot.history)]
        stored += snapshot.members.values()
        written += [data.decode("utf-8", "replace") for data in stored]
    blob = "\n".join([p.read_text(encoding="utf-8", errors="replace") for p in runs.outputs] + written)
    for secret in tokens + project.all_raw_identities():
        assert secret not in blob


def _phases(runs: Runs, project: Project, emulator: Emulator, rng: random.Random, began: float) -> None:
    """Three versions of the project; each applied by killed runs, then by one run to completion."""
    for phase, change in ((1, None), (2, _second_version), (3, _third_version)):
        if change is not None:
            change(project)
        kills_before = runs.kills
        for _ in range(ATTEMPTS_PER_PHASE):
            if time.monotonic() - began > TIME_BUDGET or runs.kills - kills_before >= KILLS_PER_PHASE:
                break
            # Mostly while it talks to providers (the interesting instants), sometimes anywhere.
            after_start = rng.random() < 0.8
            runs.killed_at(
                rng.uniform(0.0, 0.35) if after_start else rng.uniform(0.0, 0.6), after_start=after_start
            )
        code, output = runs.complete()
        assert code == 0 and "Traceback" not in output, output
        check_exactly_once(project, emulator, forgotten=phase - 1)  # vip-b forgotten, then vip's old one
        code, output = runs.complete("plan")
        assert code == 0, output
    assert runs.kills >= 12, f"only {runs.kills} runs were killed mid-way"  # typically 18-21
    assert len(project.state_doc()["audiences"]) == 6
