"""audiences.yaml -> `Declaration`: YAML with line numbers, JSON Schema, semantic checks, dataclasses.

`load_declaration` reports every problem of the file at once, each naming file:line:col, as one
`ConfigError`; it never lets another exception escape for a bad file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.config.checks import semantic_problems, source_spec
from reconciler.config.model import (
    DEFAULT_MAX_SHRINK,
    DEFAULT_SHRINK_MIN_MEMBERS,
    DEFAULT_STATEMENT_TIMEOUT,
    AudienceSpec,
    Declaration,
    Location,
    ProviderName,
    QuerySpec,
)
from reconciler.config.schema import schema_problems
from reconciler.config.yamlload import YamlDocument, decode, load_yaml
from reconciler.errors import ConfigError

__all__ = ["load_declaration"]


def load_declaration(path: Path, env: Mapping[str, str] = os.environ) -> Declaration:
    """Load, validate and type the declaration at `path`.

    `env` supplies the defaults of provider settings that name an environment variable (read here,
    once: the declaration's `providers` then hold the effective settings). Raises ConfigError
    carrying every problem found (schema, provider rules, source files and their headers)."""
    file = str(path)
    data = _read(path)
    doc = load_yaml(decode(data, file), file)
    located = schema_problems(doc, file)
    bad = {where for where, _ in located}
    base_dir = path.resolve().parent
    problems = [*doc.problems, *(p for _, p in located)]
    problems += semantic_problems(doc, file, base_dir, env, bad)
    if problems:
        unique = sorted(dict.fromkeys(problems), key=lambda p: (p.line, p.col))
        count = f"{len(unique)} problem" + ("s" if len(unique) != 1 else "")
        raise ConfigError(f"{file} is not a valid declaration ({count})", problems=unique)
    return _build(doc, path.resolve(), file, hashlib.sha256(data).hexdigest(), env)


def _read(path: Path) -> bytes:
    file = str(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: no such file; create it (see README) or name another with -c PATH"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{file} is a directory; name the declaration file with -c PATH") from None
    except OSError as exc:
        raise ConfigError(f"{file} cannot be read: {exc.strerror or type(exc).__name__}") from None


def _build(doc: YamlDocument, path: Path, file: str, sha256: str, env: Mapping[str, str]) -> Declaration:
    """The typed declaration of a document that passed every check."""
    data: dict[str, Any] = doc.data
    defaults = data.get("defaults") or {}
    default_region = _region(defaults.get("phone_region"))
    from reconciler.providers import registry

    settings = data.get("providers") or {}
    providers: dict[str, dict[str, object]] = {
        name: cls.effective_settings(settings.get(name) or {}, env)
        for name, cls in registry.providers().items()
    }
    audiences: dict[str, AudienceSpec] = {}
    for key, raw in (data.get("audiences") or {}).items():
        mark = doc.key_where(("audiences", key))
        source = _query_spec(doc, key, raw, file) if isinstance(raw["source"], dict) else None
        audiences[key] = _audience(
            key, raw, path.parent, default_region, Location(file, mark.line, mark.col), source
        )
    return Declaration(
        path=path,
        sha256=sha256,
        version=int(data["version"]),
        phone_region=default_region,
        providers=providers,
        audiences=audiences,
    )


def _query_spec(doc: YamlDocument, key: str, raw: dict[str, Any], file: str) -> QuerySpec:
    """The QuerySpec of a schema-valid query source, with the declaration lines its messages name."""
    base = ("audiences", key)

    def at(path: tuple[str, ...], *, key: bool = False) -> Location:
        mark = doc.key_where(path) if key else doc.where(path)
        return Location(file, mark.line, mark.col)

    source = raw["source"]
    timeout = source.get("statement_timeout")
    return QuerySpec(
        query=str(source["query"]),
        url_env=str(source["url_env"]),
        statement_timeout=DEFAULT_STATEMENT_TIMEOUT if timeout is None else int(timeout),
        location=at((*base, "source"), key=True),
        column_locations={str(f): at((*base, "columns", str(f))) for f in raw["columns"]},
    )


def _audience(
    key: str,
    raw: dict[str, Any],
    base_dir: Path,
    default_region: str | None,
    location: Location,
    query: QuerySpec | None = None,
) -> AudienceSpec:
    provider: ProviderName = raw["provider"]
    region = _region(raw.get("phone_region")) or default_region
    max_shrink = raw.get("max_shrink")
    min_members = raw.get("shrink_min_members")
    return AudienceSpec(
        key=key,
        provider=provider,
        name=raw["name"],
        source=query or source_spec(raw, base_dir),
        columns={str(k): str(v) for k, v in raw["columns"].items()},
        phone_region=region,
        description=raw.get("description"),
        protect=bool(raw.get("protect", False)),
        max_shrink=DEFAULT_MAX_SHRINK if max_shrink is None else float(max_shrink),
        shrink_min_members=DEFAULT_SHRINK_MIN_MEMBERS if min_members is None else int(min_members),
        location=location,
    )


def _region(value: object) -> str | None:
    return value.upper() if isinstance(value, str) else None

