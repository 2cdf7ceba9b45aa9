"""Helpers of the apply / crash / sandbox tests: a small project on disk, an emulator, the CLI."""

from __future__ import annotations

import io
import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from reconciler.cli import main
from reconciler.emulator import Emulator, LoggedRequest
from reconciler.providers import make_provider

# Three audiences, one per provider; phones are fictional (555-01xx).
BASE_AUDIENCES: dict[str, dict[str, Any]] = {
    "vip": {
        "provider": "commbox",
        "name": "VIP customers",
        "source": "data/vip.csv",
        "columns": {"phone": "Mobile", "first_name": "First"},
    },
    "buyers": {
        "provider": "whop",
        "name": "Whop buyers",
        "source": "data/buyers.csv",
        "columns": {"phone": "Mobile", "email": "Email", "first_name": "First"},
    },
    "callers": {
        "provider": "smallest",
        "name": "Callers",
        "source": "data/callers.csv",
        "columns": {"phone": "Mobile", "first_name": "First"},
    },
}
FIRST_NAMES = ("Ann", "Bob", "Cy", "Dee", "Eve", "Fay", "Gus", "Hal", "Ida", "Jo", "Kim", "Lu")


def person(i: int) -> dict[str, str]:
    """A fictional member row: US phone 415-555-01xx, an e-mail, a first name."""
    return {
        "Mobile": f"(415) 555-{100 + i:04d}",
        "Email": f"person{i}@example.com",
        "First": FIRST_NAMES[i % len(FIRST_NAMES)],
    }


def raw_identities(rows: list[dict[str, str]]) -> list[str]:
    """Every raw value that must never appear in output or state: phones (several spellings), e-mails."""
    out: list[str] = []
    for row in rows:
        digits = "".join(ch for ch in row["Mobile"] if ch.isdigit())
        out += [row["Mobile"], digits, "+1" + digits, row["Email"]]
    return out


@dataclass
class Project:
    """A declaration and its sources in a temporary directory."""

    root: Path
    audiences: dict[str, dict[str, Any]]
    rows: dict[str, list[dict[str, str]]]  # source file name -> rows
    state_url: str | None = None  # set: the postgres backend (the URL goes in RECONCILER_STATE_URL)
    workspace: str = "default"

    @property
    def config(self) -> Path:
        return self.root / "audiences.yaml"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def write(self) -> None:
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        doc: dict[str, Any] = {"version": 1, "defaults": {"phone_region": "US"}}
        if self.state_url:
            doc["state"] = {"backend": "postgres", "workspace": self.workspace}
        doc["audiences"] = self.audiences
        self.config.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        for name, rows in self.rows.items():
            lines = ["Mobile,Email,First"] + [f'"{r["Mobile"]}",{r["Email"]},{r["First"]}' for r in rows]
            (self.root / "data" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def args(self) -> list[str]:
        if self.state_url:
            return ["-c", str(self.config)]
        return ["-c", str(self.config), "--state", str(self.state)]

    def backend(self) -> Any:
        """The StateBackend of this project (a local StateStore, or its postgres workspace)."""
        if self.state_url:
            from reconciler.state.pg import PostgresStore

            return PostgresStore(self.state_url, self.workspace)
        from reconciler.state.store import StateStore

        return StateStore(self.state)

    def state_doc(self) -> dict[str, Any]:
        if self.state_url:
            from reconciler.state.pg import PostgresStore

            store = PostgresStore(self.state_url, self.workspace)
            try:
                document = store.snapshot().document
            finally:
                store.close()
            assert document is not None, "no state in the workspace"
            return dict(json.loads(document))
        return dict(json.loads((self.state / "state.json").read_text(encoding="utf-8")))

    def all_raw_identities(self) -> list[str]:
        return [v for rows in self.rows.values() for v in raw_identities(rows)]


def make_project(
    root: Path, sizes: Mapping[str, int] | None = None, state_url: str | None = None
) -> Project:
    """The three base audiences with `sizes` members each (default 5), written to `root`; their
    state in the postgres workspace at `state_url` when given (set RECONCILER_STATE_URL to it)."""
    sizes = dict(sizes or {})
    rows = {}
    for spec in BASE_AUDIENCES.values():
        name = Path(spec["source"]).name
        rows[name] = [person(i) for i in range(sizes.get(name, 5))]
    project = Project(root, json.loads(json.dumps(BASE_AUDIENCES)), rows, state_url)
    project.write()
    return project


def make_six(root: Path, base_rows: int, b_rows: range, state_url: str | None = None) -> Project:
    """The three base audiences (`base_rows` members each) plus a "B" twin of each at the same
    provider (key `<key>-b`, name `<name> B`) whose members are `person(i)` for i in `b_rows`."""
    sizes = {"vip.csv": base_rows, "buyers.csv": base_rows, "callers.csv": base_rows}
    project = make_project(root, sizes, state_url)
    for key in ("vip", "buyers", "callers"):
        spec = dict(project.audiences[key])
        spec["name"] += " B"
        spec["source"] = spec["source"].replace(".csv", "_b.csv")
        project.audiences[f"{key}-b"] = spec
        project.rows[Path(spec["source"]).name] = [person(i) for i in b_rows]
    project.write()
    return project


def check_exactly_once(project: Project, emulator: Emulator, *, forgotten: int | None = None) -> None:
    """No intent pending, no audience name twice at any provider, every state id at its provider;
    with `forgotten`, exactly that many unmanaged audiences at CommBox and none elsewhere."""
    state = project.state_doc()
    assert state["intents"] == []
    for provider in ("commbox", "whop", "smallest"):
        listed = emulator.audiences(provider)
        names = Counter(str(a["name"]) for a in listed)
        assert all(n == 1 for n in names.values()), f"{provider} holds duplicates: {names}"
        ids = {str(a.get("id") or a.get("_id")) for a in listed}
        managed = {v["provider_id"] for v in state["audiences"].values() if v["provider"] == provider}
        assert managed <= ids, f"{provider}: state ids missing at the provider"
        if forgotten is not None:
            extra = len(ids - managed)
            # Nothing orphaned: only CommBox keeps audiences it cannot delete (forgotten, reported).
            assert extra == (forgotten if provider == "commbox" else 0), f"{provider}: {extra} unmanaged"


def fast_sleep(seconds: float) -> None:
    """Waits of providers (polls, retry back-off) shortened so tests stay fast; order kept."""
    time.sleep(min(seconds, 0.02))


def fast_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the executor build provider clients that wait at most 20 ms between polls/retries."""
    monkeypatch.setattr("reconciler.executor.pool.make_provider", partial(make_provider, sleep=fast_sleep))
    monkeypatch.setattr("reconciler.executor.settle.sleep", fast_sleep)


@contextmanager
def emulator_env(emulator: Emulator) -> Iterator[dict[str, str]]:
    """Point this process's provider environment at `emulator` for the duration."""
    env = emulator.env()
    with mock.patch.dict(os.environ, env):
        yield env


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli(*argv: str) -> Result:
    """Run the CLI in-process, capturing stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return Result(code, out.getvalue(), err.getvalue())


def mutations(log: list[LoggedRequest]) -> list[tuple[str, str, str]]:
    """(provider, method, path) of every non-GET API request, upload PUTs to storage excluded."""
    return [(r.provider, r.method, r.path) for r in log if r.method != "GET" and r.provider != "whop-upload"]


def names_at(emulator: Emulator, provider: str) -> list[str]:
    """Names of every audience the emulator holds for `provider` (duplicates kept)."""
    return sorted(str(a.get("name")) for a in emulator.audiences(provider))
