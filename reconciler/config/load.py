"""audiences.yaml -> `Declaration`: YAML with line numbers, JSON Schema, semantic checks, dataclasses.

`load_declaration` reports every problem of the file at once, each naming file:line:col, as one
`ConfigError`; it never lets another exception escape for a bad file. With `headers=False` it does
not open the sources (only checks they exist); `check_headers(declaration, keys)` then checks the
mapped columns against the header rows of the audiences whose sources are about to be read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from reconciler.config.checks import HeaderCheck, SourcePaths, semantic_problems, source_spec
from reconciler.config.model import (
    DEFAULT_MAX_SHRINK,
    DEFAULT_SHRINK_MIN_MEMBERS,
    DEFAULT_STATEMENT_TIMEOUT,
    AudienceSpec,
    Declaration,
    Location,
    ProviderName,
    QuerySpec,
    Source,
)
from reconciler.config.schema import schema_problems
from reconciler.config.yamlload import YamlDocument, decode, load_yaml
from reconciler.errors import ConfigError, Problem
from reconciler.paths import resolve

__all__ = ["check_headers", "load_declaration"]


def load_declaration(path: Path, env: Mapping[str, str] = os.environ, *, headers: bool = True) -> Declaration:
    """Load, validate and type the declaration at `path`.

    `env` supplies the defaults of provider settings that name an environment variable (read here,
    once: the declaration's `providers` then hold the effective settings). Raises ConfigError
    carrying every problem found (schema, provider rules, source files and their headers). Without
    `headers`, a valid declaration is returned without reading the sources' header rows (see
    `check_headers`); an invalid one is still reported whole, header problems included."""
    file = str(path)
    data = _read(path)
    doc = load_yaml(decode(data, file), file)
    located = schema_problems(doc, file)
    bad = {where for where, _ in located}
    base_dir = resolve(path).parent
    paths = SourcePaths()
    problems = [*doc.problems, *(p for _, p in located)]
    semantic = semantic_problems(doc, file, base_dir, env, bad, paths=paths, headers=headers)
    if (problems or semantic) and not headers:  # report the whole file, as with headers
        semantic = semantic_problems(doc, file, base_dir, env, bad, paths=paths)
    problems += semantic
    if problems:
        raise _invalid(file, problems)
    check = None if headers else HeaderCheck(doc, file, base_dir, paths)
    return _build(doc, resolve(path), file, hashlib.sha256(data).hexdigest(), env, paths, check)


def check_headers(declaration: Declaration, keys: Collection[str]) -> None:
    """Check the mapped columns of the audiences `keys` against their sources' header rows, when
    the declaration was loaded without (`headers=False`); ConfigError as `load_declaration` gives."""
    check: HeaderCheck | None = declaration.header_check
    if check is None or not keys:
        return
    problems = check.problems(keys)
    if problems:
        raise _invalid(check.file, problems)


def _invalid(file: str, problems: list[Problem]) -> ConfigError:
    unique = sorted(dict.fromkeys(problems), key=lambda p: (p.line, p.col))
    count = f"{len(unique)} problem" + ("s" if len(unique) != 1 else "")
    return ConfigError(f"{file} is not a valid declaration ({count})", problems=unique)


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


def _build(
    doc: YamlDocument,
    path: Path,
    file: str,
    sha256: str,
    env: Mapping[str, str],
    paths: SourcePaths,
    header_check: HeaderCheck | None = None,
) -> Declaration:
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
        location = Location(file, mark.line, mark.col)
        source: Source
        if isinstance(raw["source"], dict):
            source = _query_spec(doc, key, raw, file)
        else:
            source = source_spec(raw, path.parent, paths.resolve(path.parent, str(raw["source"])))
        audiences[key] = _audience(key, raw, default_region, location, source)
    return Declaration(
        path=path,
        sha256=sha256,
        version=int(data["version"]),
        phone_region=default_region,
        providers=providers,
        audiences=audiences,
        header_check=header_check,
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
    key: str, raw: dict[str, Any], default_region: str | None, location: Location, source: Source
) -> AudienceSpec:
    provider: ProviderName = raw["provider"]
    region = _region(raw.get("phone_region")) or default_region
    max_shrink = raw.get("max_shrink")
    min_members = raw.get("shrink_min_members")
    return AudienceSpec(
        key=key,
        provider=provider,
        name=raw["name"],
        source=source,
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

