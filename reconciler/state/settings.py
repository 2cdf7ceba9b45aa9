"""Where the state lives: the declaration's optional `state:` section, and opening that backend.

    state:                            # optional; default {backend: local, path: state}
      backend: postgres               # local | postgres
      url_env: RECONCILER_STATE_URL   # env variable holding the libpq connection URL (default)
      workspace: production           # one state per workspace (default "default")
      path: state                     # local: the directory, relative to the declaration

Only this section is read here, leniently, so that `state` commands work while the rest of the
declaration is broken. `--state DIR` always selects a local directory. The URL comes only from the
environment (it may hold a password) and is never printed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.config.yamlload import decode, load_yaml
from reconciler.errors import ConfigError, Problem, StateError
from reconciler.paths import resolve
from reconciler.state.backend import StateBackend

DEFAULT_URL_ENV = "RECONCILER_STATE_URL"
BACKENDS = ("local", "postgres")
_WORKSPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECTION = re.compile(r"^state\s*:", re.MULTILINE)


@dataclass(frozen=True)
class StateSettings:
    """The `state:` section with its defaults; `origin` is where it was written (file:line)."""

    backend: str = "local"
    path: str = "state"
    url_env: str = DEFAULT_URL_ENV
    workspace: str = "default"
    origin: str = ""


def read_settings(config: Path) -> StateSettings:
    """The `state:` section of the declaration at `config` (defaults when it has none or cannot be
    read); ConfigError naming file and line when the section itself is wrong."""
    file = str(config)
    try:
        data = config.read_bytes()
    except OSError:
        return StateSettings()  # the commands that need the declaration report it themselves
    try:
        doc = load_yaml(decode(data, file), file)  # the parse that loading the declaration reuses
    except ConfigError:
        text = data.decode("utf-8", "replace")
        match = _SECTION.search(text)
        if match is None:
            return StateSettings()
        line = text.count("\n", 0, match.start()) + 1
        raise ConfigError(
            "cannot read the state section: the declaration is not valid YAML "
            "(`reconciler validate` shows where)",
            problems=[Problem(file, line, 1, "state: section not readable")],
        ) from None
    raw = doc.data.get("state") if isinstance(doc.data, dict) else None
    if raw is None:
        return StateSettings()
    return _settings(raw, file, doc.key_where(("state",)).line)


def _settings(raw: Any, file: str, line: int) -> StateSettings:
    def problem(message: str) -> ConfigError:
        return ConfigError("the state section is invalid", problems=[Problem(file, line, 1, message)])

    if not isinstance(raw, dict):
        raise problem("state must be a mapping (backend, url_env, workspace, path)")
    known = {"backend", "path", "url_env", "workspace"}
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise problem(f"unknown key '{unknown[0]}' in state; allowed keys: {', '.join(sorted(known))}")
    values = {key: raw[key] for key in known if key in raw}
    for key, value in values.items():
        if not isinstance(value, str) or not value:
            raise problem(f"state.{key} must be non-empty text")
    backend = values.get("backend", "local")
    if backend not in BACKENDS:
        raise problem(f"state.backend must be one of {', '.join(BACKENDS)}, not '{backend}'")
    if "workspace" in values and not _WORKSPACE.fullmatch(values["workspace"]):
        raise problem("state.workspace: use letters, digits, '.', '_' and '-' (at most 100 characters)")
    if "url_env" in values and not _ENV_NAME.fullmatch(values["url_env"]):
        raise problem("state.url_env must name an environment variable (letters, digits, '_')")
    return StateSettings(**values, origin=f"{file}:{line}" if line else file)


def local_directory(settings: StateSettings, config: Path) -> Path:
    """The local state directory of `settings`: `path` relative to the declaration's directory."""
    return resolve(config).parent / settings.path


def open_backend(settings: StateSettings, config: Path, state_dir: str | None = None) -> StateBackend:
    """The backend `settings` describe (`state_dir`, the --state flag, forces a local directory)."""
    from reconciler.state.store import StateStore

    if state_dir:
        return StateStore(Path(state_dir))
    if settings.backend == "local":
        return StateStore(local_directory(settings, config))
    return open_postgres(settings)


def open_postgres(settings: StateSettings) -> StateBackend:
    """The postgres workspace of `settings`, its URL read from the environment."""
    from reconciler.state import pgconn
    from reconciler.state.pg import PostgresStore

    url = os.environ.get(settings.url_env, "").strip()
    if not url:
        where = f" ({settings.origin})" if settings.origin else ""
        configured = settings.backend == "postgres"
        what = f"the state backend is postgres{where}, but" if configured else "for postgres,"
        raise StateError(
            f"{what} the environment variable {settings.url_env} is not set: set it to the libpq URL "
            "of the state database, e.g. postgresql://user:password@host/db"
        )
    pgconn.driver()  # fail early, with the install hint, when psycopg is missing
    return PostgresStore(url, settings.workspace)
