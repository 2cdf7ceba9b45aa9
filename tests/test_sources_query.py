"""Query sources against a real PostgreSQL server: rows stream through the same pipeline as CSV
files (same members, statistics, reasons and masked samples), values arrive as text, the query
runs read-only with a statement timeout, and every failure is one located, password-free error."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pg_support import SUPERUSER_PASSWORD, PgCluster
from query_support import csv_spec, load_table, query_spec, write_csv

from reconciler.errors import SourceError
from reconciler.sources import iter_members, scan_source
from reconciler.sources.normalise import FIELDS
from reconciler.sources.query import query_column_indexes, statement

KEY = b"k" * 32
COLUMNS = {"phone": "mobile", "email": "email", "first_name": "first_name"}
QUERY = "SELECT mobile, email, first_name FROM customers WHERE tier = 'vip' ORDER BY id"

# Every reason a row can have, duplicates (same number spelled twice, one with another name), blanks.
ROWS: list[tuple[str | None, str | None, str | None]] = [
    ("(415) 555-0101", "ann@example.com", "Ann"),
    ("+1 415 555 0102", None, "Bob"),
    ("415.555.0101", "ann@example.com", "Annie"),  # duplicate identity, other attributes
    ("not a phone", None, "Cy"),  # invalid_phone
    (None, "dee@example.com", "Dee"),  # e-mail identity (Whop)
    (None, "not-an-email", "Eve"),  # invalid_email
    (None, None, "Fay"),  # missing_identity
    ("14155550103", None, "Gus"),  # digits only: looks numeric in text too
    ("415-555-0104", "  HAL@Example.COM ", "  Hal   Jones "),
    ("(415) 555-0102", None, "Bob"),  # exact duplicate
    (None, None, None),  # an all-NULL row: like a blank CSV line, skipped
    ("415-555-0105", None, None),
]


@pytest.fixture
def warehouse(pg_url: str) -> str:
    """A database holding ROWS in `customers`; WAREHOUSE_URL points at it for the test."""
    load_table(pg_url, ROWS)
    with mock.patch.dict(os.environ, {"WAREHOUSE_URL": pg_url}):
        yield pg_url


def _issues(scan: object, offset: int) -> list[tuple[int, str, str, str | None]]:
    return [(i.row - offset, i.reason, i.masked, i.column) for i in scan.issues]  # type: ignore[attr-defined]


@pytest.mark.parametrize("provider", ["whop", "commbox"])
def test_query_scans_like_the_same_rows_in_a_csv(warehouse: str, tmp_path: Path, provider: str) -> None:
    columns = COLUMNS if provider == "whop" else {"phone": "mobile", "first_name": "first_name"}
    write_csv(tmp_path / "vip.csv", ROWS)
    from_csv = scan_source(csv_spec(tmp_path / "vip.csv", columns, provider=provider), KEY)
    from_query = scan_source(query_spec(QUERY, columns, provider=provider), KEY)
    assert from_query.members.digest() == from_csv.members.digest()
    assert len(from_query.members) == len(from_csv.members) > 0
    for stat in ("rows_read", "valid", "invalid", "duplicates", "conflicting_duplicates"):
        assert getattr(from_query, stat) == getattr(from_csv, stat), stat
    # the CSV's header is row 1; a query's rows are numbered by their ordinal in the result
    assert _issues(from_query, 0) == _issues(from_csv, 1)
    assert from_query.source == "query (WAREHOUSE_URL)"
    # the result digest does not depend on the fingerprint key (a plan from empty state has its own)
    assert from_query.sha256 == scan_source(query_spec(QUERY, columns, provider=provider), b"o" * 32).sha256
    assert list(iter_members(query_spec(QUERY, columns, provider=provider))) == list(
        iter_members(csv_spec(tmp_path / "vip.csv", columns, provider=provider))
    )


def test_many_rows_take_the_parallel_path_and_keep_row_ordinals(pg_url: str, tmp_path: Path) -> None:
    rows = [
        (f"(415) 555-{i % 9000 + 1000:04d}", None, f"P{i}") if i % 7 else ("bad", None, None)
        for i in range(60_000)
    ]
    load_table(pg_url, rows)
    write_csv(tmp_path / "big.csv", rows)
    with mock.patch.dict(os.environ, {"WAREHOUSE_URL": pg_url}):
        query = scan_source(query_spec(QUERY, COLUMNS), KEY, workers=2)
    csv = scan_source(csv_spec(tmp_path / "big.csv", COLUMNS), KEY, workers=2)
    assert query.members.digest() == csv.members.digest()
    assert (query.rows_read, query.duplicates, query.invalid) == (csv.rows_read, csv.duplicates, csv.invalid)
    assert _issues(query, 0) == _issues(csv, 1)
    assert query.issues[0].row == 1 and query.issues[-1].row == 59_998


def test_digest_moves_with_the_rows_not_their_order(warehouse: str) -> None:
    spec = query_spec(QUERY, COLUMNS)
    before = scan_source(spec, KEY).sha256
    assert (
        scan_source(query_spec(QUERY.replace("ORDER BY id", "ORDER BY id DESC"), COLUMNS), KEY).sha256 != ""
        and scan_source(spec, KEY).sha256 == before
    )
    load_table(warehouse, [*ROWS[:-1], ("415-555-0106", None, None)])
    assert scan_source(spec, KEY).sha256 != before
    load_table(warehouse, [*ROWS[:-1], ("415-555-0105", None, "Named")])  # attributes count too
    assert scan_source(spec, KEY).sha256 != before


def test_null_is_an_empty_cell_and_numbers_in_a_phone_column_are_numeric_cells(pg_url: str) -> None:
    query = (
        "SELECT * FROM (VALUES (14155550101::bigint, 'Ann'), (NULL, 'Bob'), (4155550102, NULL))"
        " AS t(mobile, first_name)"
    )
    with mock.patch.dict(os.environ, {"WAREHOUSE_URL": pg_url}):
        scan = scan_source(
            query_spec(query, {"phone": "mobile", "first_name": "first_name"}, provider="commbox"), KEY
        )
    assert [(i.row, i.reason) for i in scan.issues] == [
        (1, "numeric_phone_cell"),
        (2, "missing_phone"),
        (3, "numeric_phone_cell"),
    ]
    assert "14155550101" not in repr(scan.issues)


@settings(max_examples=60)
@given(
    value=st.one_of(
        st.integers(min_value=-(2**31), max_value=2**31 - 1).map(lambda v: (v, "integer")),
        st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda v: (v, "bigint")),
        st.decimals(
            allow_nan=False,
            allow_infinity=False,
            places=3,
            min_value=Decimal("-1e15"),
            max_value=Decimal("1e15"),
        ).map(lambda v: (v, "numeric")),
        st.floats(allow_nan=False, allow_infinity=False, width=64).map(lambda v: (v, "double precision")),
    ),
    name=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
    ),
)
def test_values_arrive_as_postgresql_text(pg_url: str, value: tuple[object, str], name: str) -> None:
    """A numeric phone is always a numeric cell (never a member, never shown unmasked); any other
    value is exactly PostgreSQL's text output of it (what COPY ... CSV would write)."""
    import psycopg

    number, cast = value
    with psycopg.connect(pg_url) as conn:
        text, number_literal, name_literal = conn.execute(
            f"SELECT %s::{cast}::text, quote_literal(%s::{cast}::text), quote_literal(%s)",
            [number, number, name],
        ).fetchone()  # type: ignore[misc]
    typed = f"{number_literal}::{cast}"
    query = f"SELECT {typed} AS mobile, {name_literal} AS label, {typed} AS first_name"
    with mock.patch.dict(os.environ, {"WAREHOUSE_URL": pg_url}):
        scan = scan_source(
            query_spec(query, {"phone": "mobile", "first_name": "first_name"}, provider="commbox"), KEY
        )
        assert [(i.reason, i.column) for i in scan.issues] == [("numeric_phone_cell", "mobile")]
        assert len(scan.members) == 0
        if len(text) >= 5:
            assert text not in scan.issues[0].masked
        from reconciler.sources.records import source_blocks

        name_spec = query_spec(query, {"phone": "label", "first_name": "first_name"})
        with source_blocks(name_spec, 10) as (indexes, blocks):
            records = [cells for _, block, _ in blocks for cells in block]
    assert records == [(text, name, text)]
    assert indexes[FIELDS.index("first_name")] == 2


def test_the_query_runs_read_only(warehouse: str) -> None:
    writes = "SELECT mobile, email, first_name FROM customers, LATERAL (SELECT nextval('customers_id_seq')) s"
    with pytest.raises(SourceError) as caught:
        scan_source(query_spec(writes, COLUMNS), KEY)
    assert "READ ONLY" in str(caught.value)


def test_statement_timeout_cancels_a_slow_query(warehouse: str) -> None:
    slow = "SELECT mobile, email, first_name FROM customers, LATERAL (SELECT pg_sleep(5)) s"
    with pytest.raises(SourceError) as caught:
        scan_source(query_spec(slow, COLUMNS, timeout=1), KEY)
    message = str(caught.value)
    assert "statement_timeout of 1 s" in message and "audiences.yaml:7:5" in message


def test_percent_signs_braces_and_trailing_semicolons_are_left_to_postgresql(warehouse: str) -> None:
    query = (
        "SELECT mobile, email, first_name, '{x}' AS b FROM customers WHERE tier LIKE 'v%' ORDER BY id ;;\n"
    )
    assert statement(query_spec(query, COLUMNS).source) == query.strip().rstrip(";").strip()  # type: ignore[arg-type]
    odd, plain = scan_source(query_spec(query, COLUMNS), KEY), scan_source(query_spec(QUERY, COLUMNS), KEY)
    assert odd.members.digest() == plain.members.digest()
    assert odd.rows_read == plain.rows_read + 1  # the all-NULL row is not blank: column b holds '{x}'


def test_missing_columns_name_their_declaration_lines() -> None:
    spec = query_spec(QUERY, {"phone": "mobil", "first_name": "first_name", "email": "mail"})
    with pytest.raises(SourceError) as caught:
        query_column_indexes(spec, ["mobile", "first_name", "email"], FIELDS)
    lines = [str(p) for p in caught.value.problems]
    assert lines[0].startswith("audiences.yaml:10:7: column 'mobil' (columns.phone of audience 'vip')")
    assert (
        "did you mean 'mobile'?" in lines[0]
        and "the query returns: 'mobile', 'first_name', 'email'" in lines[0]
    )
    assert lines[1].startswith("audiences.yaml:12:7: column 'mail' (columns.email")


def test_a_mapped_column_returned_twice_is_an_error(warehouse: str) -> None:
    """A join returning two columns of one name: which one holds the phone is not clear, so
    reading either would be a guess. An unmapped repeated name is harmless."""
    spec = query_spec("SELECT mobile, email, first_name, tier AS mobile FROM customers", COLUMNS)
    with pytest.raises(SourceError) as caught:
        scan_source(spec, KEY)
    assert [p.line for p in caught.value.problems] == [10]
    assert "returns column 'mobile' (columns.phone of audience 'vip') 2 times" in str(caught.value)
    repeated = "SELECT mobile, email, first_name, 1 AS x, 2 AS x FROM customers"
    fine = scan_source(query_spec(repeated, COLUMNS), KEY)
    assert fine.members.digest() == scan_source(query_spec(QUERY, COLUMNS), KEY).members.digest()


BAD_QUERIES = {
    "syntax": ("SELEC mobile FROM customers", 'syntax error at or near "SELEC"'),
    "missing table": ("SELECT mobile, email, first_name FROM nowhere", 'relation "nowhere" does not exist'),
    "missing column": ("SELECT mobil FROM customers", 'column "mobil" does not exist'),
    "two statements": ("SELECT 1; SELECT 2", "SQLSTATE 42601"),
    # the failing value is member data: the message names the error class, not the value
    "bad value": (
        "SELECT mobile::bigint AS mobile, email, first_name FROM customers ORDER BY id",
        "InvalidTextRepresentation (SQLSTATE 22P02",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_QUERIES))
def test_database_errors_are_one_located_line_without_secrets_or_values(warehouse: str, case: str) -> None:
    query, expected = BAD_QUERIES[case]
    with pytest.raises(SourceError) as caught:
        scan_source(query_spec(query, COLUMNS), KEY)
    message = str(caught.value)
    assert message.startswith("audience 'vip': cannot read its query source\n  audiences.yaml:7:5: ")
    assert expected in message
    assert SUPERUSER_PASSWORD not in message and warehouse not in message
    assert "555" not in message and "(415)" not in message


def test_permission_denied(warehouse: str, pg_cluster: PgCluster) -> None:
    import psycopg

    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS reader_without_grant")
        conn.execute("CREATE ROLE reader_without_grant LOGIN PASSWORD 'p4ss:w/rd'")
    database = warehouse.rsplit("/", 1)[1]
    url = pg_cluster.url(database, user="reader_without_grant", password="p4ss:w/rd")
    with mock.patch.dict(os.environ, {"WAREHOUSE_URL": url}), pytest.raises(SourceError) as caught:
        scan_source(query_spec(QUERY, COLUMNS), KEY)
    message = str(caught.value)
    assert "permission denied for table customers (SQLSTATE 42501)" in message
    assert "p4ss" not in message and url not in message


def test_wrong_password_and_missing_database(pg_cluster: PgCluster) -> None:
    for url, expected in (
        (pg_cluster.url(password=SUPERUSER_PASSWORD + "x"), "password authentication failed"),
        (pg_cluster.url("no_such_db"), 'database "no_such_db" does not exist'),
    ):
        with mock.patch.dict(os.environ, {"WAREHOUSE_URL": url}), pytest.raises(SourceError) as caught:
            scan_source(query_spec(QUERY, COLUMNS), KEY)
        message = str(caught.value)
        assert "cannot connect to the PostgreSQL server in WAREHOUSE_URL" in message and expected in message
        assert SUPERUSER_PASSWORD not in message and "s3cret" not in message


@pytest.mark.parametrize("value", ["", "   ", None])
def test_missing_url_names_the_variable_and_the_audience(value: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WAREHOUSE_URL"}
    if value is not None:
        env["WAREHOUSE_URL"] = value
    with mock.patch.dict(os.environ, env, clear=True), pytest.raises(SourceError) as caught:
        scan_source(query_spec(QUERY, COLUMNS), KEY)
    assert (
        "audiences.yaml:7:5: audience 'vip' reads its members from PostgreSQL, but the environment "
        "variable WAREHOUSE_URL is not set" in str(caught.value)
    )


def test_malformed_url_is_not_echoed() -> None:
    url = "host=db password=hunter2 nonsense"
    with mock.patch.dict(os.environ, {"WAREHOUSE_URL": url}), pytest.raises(SourceError) as caught:
        scan_source(query_spec(QUERY, COLUMNS), KEY)
    assert "WAREHOUSE_URL is not a valid PostgreSQL connection URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_unreachable_server() -> None:
    from pg_support import free_port

    url = (
        f"postgresql://u:{SUPERUSER_PASSWORD.replace('/', '%2F').replace(':', '%3A').replace('@', '%40')}"
        f"@127.0.0.1:{free_port()}/db"
    )
    with mock.patch.dict(os.environ, {"WAREHOUSE_URL": url}), pytest.raises(SourceError) as caught:
        scan_source(query_spec(QUERY, COLUMNS), KEY)
    message = str(caught.value)
    assert "cannot connect to the PostgreSQL server in WAREHOUSE_URL: Connection refused" in message
    assert "s3cret" not in message and "%2F" not in message


@given(
    password=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(
        lambda p: p.strip("*")
    ),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
    form=st.sampled_from(["raw", "quoted", "url", "unquoted url"]),
)
def test_scrubber_leaves_no_password_or_url(password: str, before: str, after: str, form: str) -> None:
    """Whatever a message quotes of the URL, no password (raw or URL-quoted) and no URL is left."""
    from urllib.parse import quote, unquote

    from reconciler.sources.query import Scrubber

    url = f"postgresql://user:{quote(password, safe='')}@db.example.com:5432/warehouse"
    shown = {"raw": password, "quoted": quote(password, safe=""), "url": url, "unquoted url": unquote(url)}
    text = Scrubber(url, password)(f"{before}{shown[form]}{after}")
    for secret in (password, quote(password, safe=""), quote(password), url):
        assert secret not in text
