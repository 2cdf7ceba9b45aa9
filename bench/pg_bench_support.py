"""A PostgreSQL server for the benchmarks: the URL in RECONCILER_BENCH_PG_URL, else a throwaway
cluster started with the tests' tests/pg_support.py (imported by path; needs Debian's postgresql)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
URL_ENV = "RECONCILER_BENCH_PG_URL"


def _pg_support():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("pg_support", REPO / "tests" / "pg_support.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def database() -> Iterator[tuple[str, str]]:
    """(URL of an empty database, where it came from); a throwaway cluster unless the env gives one.

    The throwaway cluster is made durable like a real server (fsync, synchronous_commit and
    full_page_writes on, which the tests turn off), so the comparison with the local backend,
    which fsyncs every write, is fair."""
    given = os.environ.get(URL_ENV)
    if given:
        yield given, f"${URL_ENV}"
        return
    with _pg_support().running_cluster() as cluster:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            cluster.sql(f"ALTER SYSTEM SET {setting} = on")
        cluster.sql("SELECT pg_reload_conf()")
        yield cluster.new_database(), "a throwaway local cluster, fsync on"
