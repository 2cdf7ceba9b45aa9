"""Connections to the state database: the psycopg driver imported lazily, and every driver error
turned into a StateError whose text holds no password.

psycopg is the optional extra `postgres`; the local backend never imports this module's driver.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, NoReturn

from reconciler.errors import StateError
from reconciler.state import pgurl

if TYPE_CHECKING:
    import psycopg

INSTALL_HINT = "pip install 'reconciler[postgres]'"


def driver() -> Any:
    """The psycopg module; StateError saying how to install it when it is missing."""
    try:
        import psycopg
    except ImportError:
        raise StateError(f"the postgres state backend needs the psycopg driver: {INSTALL_HINT}") from None
    return psycopg


def connect(url: str, application: str = "reconciler") -> psycopg.Connection[Any]:
    """An autocommit connection to `url`; StateError (password masked) when it cannot be made."""
    psycopg = driver()
    options: dict[str, Any] = {"autocommit": True, "application_name": application}
    if "connect_timeout" not in url:
        options["connect_timeout"] = 10
    try:
        return psycopg.connect(url, **options)
    except psycopg.Error as exc:
        fail(exc, url, "cannot connect to the state database")
    except Exception as exc:  # e.g. a URL the driver cannot even parse: still never show it
        fail(exc, url, "cannot connect to the state database")


def message(exc: BaseException, url: str) -> str:
    """The driver's message for `exc` (first lines, no context), with the URL's secrets masked."""
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()][:3]
    return pgurl.mask("; ".join(lines), url)


def fail(exc: BaseException, url: str, doing: str) -> NoReturn:
    """Raise StateError for a driver error met while `doing` (no traceback chain to the driver)."""
    where = pgurl.describe(url)
    raise StateError(f"{doing}{f' at {where}' if where else ''}: {message(exc, url)}") from None


def close_quietly(conn: psycopg.Connection[Any] | None) -> None:
    """Close `conn`, ignoring errors (a dropped connection is closed already)."""
    if conn is None:
        return
    with contextlib.suppress(Exception):
        conn.close()
