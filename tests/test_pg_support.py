"""The throwaway PostgreSQL cluster the state-backend and query-source tests stand on."""

from __future__ import annotations

import psycopg
import pytest
from pg_support import PgCluster, running_cluster


def test_databases_are_separate_and_need_the_password(pg_cluster: PgCluster) -> None:
    first, second = pg_cluster.new_database(), pg_cluster.new_database()
    assert first != second
    with psycopg.connect(first, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
    with psycopg.connect(second) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)
    wrong = pg_cluster.url(first.rsplit("/", 1)[1], password="wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong).close()


def test_a_cluster_restarts_on_its_port_and_cuts_sessions() -> None:
    with running_cluster() as cluster:
        conn = psycopg.connect(cluster.url(), autocommit=True)
        assert conn.execute("SELECT 1").fetchone() == (1,)
        cluster.restart()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        conn.close()
        with psycopg.connect(cluster.url()) as again:
            assert again.execute("SELECT 2").fetchone() == (2,)
