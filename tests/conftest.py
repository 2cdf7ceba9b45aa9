"""Fixtures shared by the emulator, provider and apply tests, and the hypothesis profile.

Imports happen inside the fixtures, so a module that is broken mid-edit fails only the tests that
use it, not the collection of every test file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

# Property tests judge results, not speed: on a loaded 2-core CI machine a slow example is not a
# failure, so no per-example deadline and no too-slow health check. Tests that take `tmp_path` or a
# server fixture use it deliberately across examples (each example makes its own subdirectory or
# resets the server). A test's own `@settings` must not pass `suppress_health_check`: that would
# replace this list and bring the load-dependent check back.
settings.register_profile(
    "reconciler",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
settings.load_profile("reconciler")

if TYPE_CHECKING:
    import httpx
    from pg_support import PgCluster

    from reconciler.emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """A fault-free emulator of the three providers on a free loopback port."""
    from reconciler.emulator import Emulator

    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def c() -> Iterator[httpx.Client]:
    """A plain HTTP client for talking to the emulator directly."""
    import httpx

    with httpx.Client(timeout=20) as client:
        yield client


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator this process's provider environment points at, with fast provider retries
    (for tests that run `reconciler apply` in-process)."""
    from apply_support import emulator_env, fast_providers

    from reconciler.emulator import Emulator

    fast_providers(monkeypatch)
    with Emulator(port=0) as em, emulator_env(em):
        yield em


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One throwaway PostgreSQL cluster for the whole run (tests that stop or restart the server
    start their own with `pg_support.running_cluster()` instead)."""
    from pg_support import running_cluster

    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """The URL of a new, empty database in the shared cluster (password included)."""
    return pg_cluster.new_database()


@pytest.fixture(params=["local", "postgres"])
def state_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """Run the test on each state backend: None for the local directory, else the URL of a fresh
    postgres database (also set as RECONCILER_STATE_URL); pass it to make_project/make_six."""
    if request.param == "local":
        return None
    url: str = request.getfixturevalue("pg_url")
    monkeypatch.setenv("RECONCILER_STATE_URL", url)
    return url
