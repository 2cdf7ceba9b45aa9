"""A throwaway PostgreSQL cluster for tests: initdb in a temporary directory, a server on a free
loopback port, stopped and removed at the end.

`initdb` and `postgres` refuse to run as root, so when the tests run as root (CI does) the cluster
belongs to the unprivileged `postgres` user (created by Debian's `postgresql` package) and every
server command runs through `runuser -u postgres --`. Password authentication (SCRAM) is on for
TCP, so tests can prove that a URL's password never leaks into output.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

SUPERUSER = "postgres"
# Contains characters that need URL quoting, so tests exercise the masking of quoted passwords.
SUPERUSER_PASSWORD = "s3cret-pw/with:odd@chars"


class PgUnavailable(RuntimeError):
    """The PostgreSQL server binaries (Debian package `postgresql`) are not installed."""


def server_bin(name: str) -> str:
    """The path of a PostgreSQL server program (`pg_ctl`, `initdb`), newest major version first."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
        reverse=True,
    )
    if not candidates:
        raise PgUnavailable(f"{name} not found: install Debian's postgresql package (.ci/run does)")
    return candidates[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """One running cluster. `url(database)` gives a libpq URL with the superuser's password."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="reconciler-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._owner = _unprivileged_owner()
        self._databases = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def init(self) -> None:
        """Create the cluster's files (`initdb`) with a superuser password and SCRAM over TCP."""
        pwfile = self.root / "pwfile"
        pwfile.write_text(SUPERUSER_PASSWORD + "\n", encoding="utf-8")
        self._give_to_owner(self.root)
        self._run(
            server_bin("initdb"),
            "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()

    def start(self) -> None:
        """Start the server on 127.0.0.1:`port`, its unix socket inside the cluster directory."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(server_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast` ends sessions cleanly; `immediate` is a crash)."""
        self._run(server_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same port (existing connections are cut)."""
        self.stop(mode)
        self.start()

    def destroy(self) -> None:
        """Stop the server if it runs and remove every file of the cluster."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- use ---------------------------------------------------------------------------------

    def url(
        self, database: str = "postgres", user: str = SUPERUSER, password: str = SUPERUSER_PASSWORD
    ) -> str:
        """A libpq URL for `database` over TCP on loopback."""
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return f"postgresql://{credentials}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> None:
        """Run one statement as the superuser (autocommit, so CREATE DATABASE works)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement.encode("utf-8"))

    def new_database(self) -> str:
        """Create an empty database with a fresh name and return its URL."""
        self._databases += 1
        name = f"test_{os.getpid()}_{self._databases}"
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    # -- helpers -----------------------------------------------------------------------------

    def _give_to_owner(self, path: Path) -> None:
        if self._owner is not None:
            os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
            path.chmod(0o700)

    def _run(self, *argv: str) -> None:
        command = list(argv)
        if self._owner is not None:
            command = ["runuser", "-u", self._owner.pw_name, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise subprocess.CalledProcessError(
                result.returncode, command, output=result.stdout, stderr=result.stderr + log
            )


def _unprivileged_owner() -> pwd.struct_passwd | None:
    """Who runs the server: nobody special unless we are root, then Debian's `postgres` user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PgUnavailable("running as root but there is no 'postgres' user to run the server") from exc


@contextlib.contextmanager
def running_cluster() -> Iterator[PgCluster]:
    """A started cluster, destroyed on exit."""
    cluster = PgCluster()
    try:
        cluster.init()
        cluster.start()
        _wait_ready(cluster)
        yield cluster
    finally:
        cluster.destroy()


def _wait_ready(cluster: PgCluster, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(cluster.url(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
