"""Query sources: stream the rows of a SQL query from PostgreSQL as text records.

The query runs in a READ ONLY transaction through a server-side cursor (DECLARE/FETCH), a block
of rows at a time, with a statement timeout, so memory stays flat however many rows it returns.
Every value arrives as PostgreSQL's text output (what `COPY ... CSV` would write; NULL is None,
an empty cell); the caller feeds the records to the same row pipeline as CSV and .xlsx files.

The connection URL is read from the environment variable the declaration names, only here, and
never appears in a message: libpq's words are scrubbed of it and of its password, and a database
error is quoted only when its class cannot carry row values (syntax, names, permissions).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from reconciler.config.model import AudienceSpec, Location, QuerySpec
from reconciler.errors import Problem, SourceError
from reconciler.sources.members import SourceScan

if TYPE_CHECKING:
    import numpy as np
    import psycopg

# (result row ordinal of the block's first row, rows: one value or None per result column)
QueryBlock = tuple[int, list[Sequence[str | None]]]

INSTALL_HINT = "pip install 'reconciler[postgres]'"
CONNECT_TIMEOUT = 10  # seconds, unless the URL sets connect_timeout
CURSOR_NAME = "reconciler_source"
# Result types whose values are numbers: a phone column of these lost its '+' and leading zeros,
# like a numeric spreadsheet cell (reason numeric_phone_cell).
NUMERIC_TYPES = ("int2", "int4", "int8", "numeric", "float4", "float8", "oid", "money")
# SQLSTATE classes whose primary message names only the query's own words and schema objects;
# other classes (data exceptions, raised errors, ...) may quote row values and are named by code.
QUOTABLE_CLASSES = ("08", "0A", "25", "28", "3D", "3F", "42", "53", "57")


def query_error(spec: AudienceSpec, detail: str, where: Location | None = None) -> SourceError:
    """A SourceError about `spec`'s query source, located at the declaration line it concerns."""
    source = spec.source
    assert isinstance(source, QuerySpec)
    at = where or source.location or spec.location
    problem = Problem(at.file, at.line, at.col, detail) if at else Problem("", 0, 0, detail)
    return SourceError(f"audience '{spec.key}': cannot read its query source", problems=[problem])


def query_url(spec: AudienceSpec, env: Mapping[str, str] = os.environ) -> str:
    """The connection URL from the environment variable the source names; SourceError if unset."""
    source = spec.source
    assert isinstance(source, QuerySpec)
    url = env.get(source.url_env, "").strip()
    if not url:
        raise query_error(
            spec,
            f"audience '{spec.key}' reads its members from PostgreSQL, but the environment variable "
            f"{source.url_env} is not set: set it to the connection URL "
            "(postgresql://USER:PASSWORD@HOST:5432/DATABASE), e.g. from a CI secret",
        )
    return url


class Scrubber:
    """Removes a connection URL and its password (raw and URL-quoted) from text, as '***'.

    Replaces until no secret is left: a '***' next to the text around it can spell a secret
    again (a password 'a*' in 'aa*'). Each pass removes a character that is not '*', so it ends;
    a secret of asterisks only cannot be told from the mask and is left alone."""

    def __init__(self, url: str, password: str | None) -> None:
        secrets = {url, unquote(url)}
        if password:
            secrets |= {password, quote(password, safe=""), quote(password)}
        self.secrets = sorted((s for s in secrets if s.strip("*")), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        while found := [secret for secret in self.secrets if secret in text]:
            for secret in found:
                text = text.replace(secret, "***")
        return text


def _import_psycopg(spec: AudienceSpec) -> Any:
    try:
        import psycopg
    except ImportError:
        raise query_error(
            spec, f"query sources need the PostgreSQL driver psycopg, which is not installed: {INSTALL_HINT}"
        ) from None
    return psycopg


def _connect(spec: AudienceSpec, url: str, scrub: Scrubber) -> psycopg.Connection[Any]:
    """A connection for a READ ONLY transaction, every value loaded as text."""
    psycopg = _import_psycopg(spec)
    source = spec.source
    assert isinstance(source, QuerySpec)
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        raise query_error(
            spec,
            f"{source.url_env} is not a valid PostgreSQL connection URL; use "
            "postgresql://USER:PASSWORD@HOST:5432/DATABASE (quote special characters with %XX)",
        ) from None
    extra: dict[str, Any] = {"application_name": "reconciler"}
    if "connect_timeout" not in params and "PGCONNECT_TIMEOUT" not in os.environ:
        extra["connect_timeout"] = CONNECT_TIMEOUT
    try:
        conn = psycopg.connect(url, autocommit=False, **extra)
    except psycopg.Error as exc:
        raise query_error(spec, _connect_detail(exc, source, scrub)) from None
    conn.read_only = True
    from psycopg.types.string import TextLoader

    for info in psycopg.postgres.types:
        conn.adapters.register_loader(info.oid, TextLoader)
        if info.array_oid:
            conn.adapters.register_loader(info.array_oid, TextLoader)
    return conn


def _connect_detail(exc: Exception, source: QuerySpec, scrub: Scrubber) -> str:
    """libpq's reason for a failed connection, as one line without the URL or password."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[0] if lines else type(exc).__name__
    for prefix in ("connection failed: ",):
        reason = reason.removeprefix(prefix)
    if " failed: " in reason:  # 'connection to server at "h", port p failed: why'
        server, _, why = reason.partition(" failed: ")
        reason = f"{why.removeprefix('FATAL:').strip()} ({server.removeprefix('connection to ')})"
    return f"cannot connect to the PostgreSQL server in {source.url_env}: {scrub(reason)}"


def _database_detail(exc: Exception, source: QuerySpec, scrub: Scrubber) -> str:
    """A database error as one line: its own words only when they cannot hold row values."""
    code = getattr(exc, "sqlstate", None) or ""
    diag = getattr(exc, "diag", None)
    primary = (getattr(diag, "message_primary", None) or "").strip()
    name = type(exc).__name__
    if code == "57014":
        return (
            f"the query was cancelled after its statement_timeout of {source.statement_timeout} s "
            "(raise `statement_timeout:` under source, or make the query faster)"
        )
    if code == "25006":
        return "the query tried to write, but query sources run in a READ ONLY transaction"
    if code.startswith("42"):
        return f"the database rejected the query: {scrub(primary)} (SQLSTATE {code})"
    if code[:2] in QUOTABLE_CLASSES and primary:
        return f"the database reported: {scrub(primary)} (SQLSTATE {code})"
    if code:
        return (
            f"the database failed while running the query: {name} (SQLSTATE {code}; its message is "
            "not shown because it may quote member data)"
        )
    return f"the connection to the PostgreSQL server in {source.url_env} failed while reading the query"


def statement(source: QuerySpec) -> str:
    """The query as DECLARE ... FOR takes it: outer whitespace and trailing semicolons removed."""
    text = source.query.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


@contextmanager
def query_records(
    spec: AudienceSpec, block_size: int, env: Mapping[str, str] = os.environ
) -> Iterator[tuple[list[str], frozenset[int], Iterator[QueryBlock]]]:
    """(result column names, indexes of numeric columns, blocks of rows) of `spec`'s query.

    Rows are numbered by their ordinal in the result (the first is 1). SourceError (located at the
    declaration) for a missing URL, a failed connection and any database error."""
    source = spec.source
    assert isinstance(source, QuerySpec)
    url = query_url(spec, env)
    psycopg = _import_psycopg(spec)
    password: str | None = None
    with suppress(psycopg.Error):
        password = psycopg.conninfo.conninfo_to_dict(url).get("password")
    scrub = Scrubber(url, None if password is None else str(password))
    conn = _connect(spec, url, scrub)
    try:
        try:
            conn.execute("SELECT set_config('statement_timeout', %s, true)", [f"{source.statement_timeout}s"])
            cursor = conn.cursor(name=CURSOR_NAME)
            cursor.execute(statement(source))
            description = cursor.description or []
        except psycopg.Error as exc:
            raise query_error(spec, _database_detail(exc, source, scrub)) from None
        numeric_oids = {psycopg.postgres.types[name].oid for name in NUMERIC_TYPES}
        header = [column.name for column in description]
        numeric = frozenset(i for i, column in enumerate(description) if column.type_code in numeric_oids)

        def blocks() -> Iterator[QueryBlock]:
            first = 1
            while True:
                try:
                    rows = cursor.fetchmany(block_size)
                except psycopg.Error as exc:
                    raise query_error(spec, _database_detail(exc, source, scrub)) from None
                if not rows:
                    return
                yield first, rows
                first += len(rows)

        yield header, numeric, blocks()
    finally:
        conn.close()  # the READ ONLY transaction ends without a commit


def query_column_indexes(
    spec: AudienceSpec, header: list[str], fields: Sequence[str]
) -> tuple[int | None, ...]:
    """Index in the result of each of `fields` (None when unmapped); SourceError naming the
    declaration line of each mapped column the query does not return, or returns more than once."""
    import difflib

    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        positions.setdefault(name, index)
    missing = [(f, c) for f, c in spec.columns.items() if c not in positions]
    if missing:
        listing = ", ".join(f"'{name}'" for name in header) or "none"
        problems = []
        for field, column in missing:
            close = difflib.get_close_matches(column, header, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(_column_problem(spec, field, (
                f"column '{column}' (columns.{field} of audience '{spec.key}') is not a result column "
                f"of its query{hint}; the query returns: {listing}"
            )))
        raise SourceError(
            f"audience '{spec.key}': its columns name columns its query does not return", problems=problems
        )
    twice = [(f, c) for f, c in spec.columns.items() if header.count(c) > 1]
    if twice:
        problems = [
            _column_problem(spec, field, (
                f"the query returns column '{column}' (columns.{field} of audience '{spec.key}') "
                f"{header.count(column)} times: give each an alias (AS) so the column to read is clear"
            ))
            for field, column in twice
        ]
        raise SourceError(
            f"audience '{spec.key}': its query returns a mapped column more than once", problems=problems
        )
    return tuple(positions[spec.columns[f]] if f in spec.columns else None for f in fields)


def _column_problem(spec: AudienceSpec, field: str, detail: str) -> Problem:
    """`detail` located at the declaration line mapping `field` (else the source's, the audience's)."""
    source = spec.source
    assert isinstance(source, QuerySpec)
    at = source.column_locations.get(field) or source.location or spec.location
    return Problem(at.file, at.line, at.col, detail) if at else Problem("", 0, 0, detail)


def row_hash(values: tuple[str | None, ...]) -> int:
    """A 64-bit unkeyed hash of one valid row's normalised fields (BLAKE2b)."""
    digest = hashlib.blake2b(repr(values).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def result_digest(scan: SourceScan, hash_parts: list[np.ndarray]) -> str:
    """SHA-256 of a query's normalised result, independent of row order and of the fingerprint
    key: every valid row's `row_hash` (sorted) and the row statistics. A saved plan records it;
    apply refuses the plan when the query's rows have changed since (empties `hash_parts`)."""
    import numpy as np

    hashes = np.concatenate(hash_parts) if hash_parts else np.empty(0, np.uint64)
    hash_parts.clear()
    hashes.sort()
    facts = {
        "rows": scan.rows_read,
        "valid": scan.valid,
        "invalid": scan.invalid,
        "duplicates": scan.duplicates,
        "conflicting_duplicates": scan.conflicting_duplicates,
        "members": len(scan.members),
    }
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode())
    digest.update(hashes.astype("<u8").tobytes())
    return digest.hexdigest()
