"""Helpers of the query source tests: load rows into a PostgreSQL table, write a CSV of the same
rows, and build the AudienceSpec of either."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from reconciler.config.model import AudienceSpec, Location, QuerySpec, SourceSpec

HEADERS = ("mobile", "email", "first_name")


def load_table(url: str, rows: Sequence[Sequence[str | None]], table: str = "customers") -> None:
    """(Re)create `table` (id serial, mobile, email, first_name, tier text) holding `rows`, in order."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(
            f"CREATE TABLE {table} (id serial PRIMARY KEY, mobile text, email text, first_name text, "
            "tier text NOT NULL DEFAULT 'vip')"
        )
        with conn.cursor() as cur, cur.copy(f"COPY {table} (mobile, email, first_name) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def write_csv(path: Path, rows: Sequence[Sequence[str | None]]) -> None:
    """The same rows as a CSV file with a header (NULL as an empty cell)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADERS)
        for row in rows:
            writer.writerow(["" if cell is None else cell for cell in row])


def query_spec(
    query: str,
    columns: dict[str, str],
    *,
    provider: str = "whop",
    url_env: str = "WAREHOUSE_URL",
    timeout: int = 300,
    key: str = "vip",
) -> AudienceSpec:
    """An audience reading `query` (locations point into a notional audiences.yaml)."""
    source = QuerySpec(
        query=query,
        url_env=url_env,
        statement_timeout=timeout,
        location=Location("audiences.yaml", 7, 5),
        column_locations={f: Location("audiences.yaml", 10 + i, 7) for i, f in enumerate(columns)},
    )
    return AudienceSpec(
        key=key,
        provider=provider,
        name="VIP",
        source=source,  # type: ignore[arg-type]
        columns=dict(columns),
        phone_region="US",
        location=Location("audiences.yaml", 4, 3),
    )


def csv_spec(
    path: Path, columns: dict[str, str], *, provider: str = "whop", key: str = "vip"
) -> AudienceSpec:
    """An audience reading the CSV file at `path`."""
    source = SourceSpec(path=path, display=path.name)
    return AudienceSpec(
        key=key,
        provider=provider,
        name="VIP",
        source=source,  # type: ignore[arg-type]
        columns=dict(columns),
        phone_region="US",
    )
