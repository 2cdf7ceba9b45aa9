"""Checks of a declaration that JSON Schema cannot express: provider rules, regions, source files.

`semantic_problems` looks only at nodes that passed the schema (so nothing is reported twice) and
returns every problem it finds, each located at the key or value the user should change. Reading
each source's header row is the one check that opens the sources: `semantic_problems(...,
headers=False)` leaves it out, and `HeaderCheck.problems(keys)` runs it later for the audiences
whose sources are about to be read anyway.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import stat
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import phonenumbers

from reconciler.config.compose import AUDIENCE_OPTIONS
from reconciler.config.model import MAPPABLE_FIELDS, SourceSpec
from reconciler.config.urls import base_url_problem
from reconciler.config.yamlload import PathKey, YamlDocument
from reconciler.errors import Problem, SourceError
from reconciler.masking import header_listing, looks_like_data, shown_header, shown_text
from reconciler.paths import resolve, unresolvable
from reconciler.providers import registry
from reconciler.providers.base import Identity, Provider
from reconciler.safetext import has_unsafe, printable
from reconciler.sources import read_headers
from reconciler.sources.csvread import encoding_problem

TEXT_EXTENSIONS = (".csv", ".txt", ".tsv")
EXCEL_EXTENSIONS = (".xlsx",)

DELIMITER_ALIASES = {"tab": "\t"}
FILE_OPTIONS = ("delimiter", "encoding", "sheet")

T = TypeVar("T")


def valid_region(region: str) -> bool:
    """True when `region` (any case) is a region phonenumbers can parse numbers for."""
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


def _owners(attribute: str, item: str) -> str:
    """The titles of the registered providers whose `attribute` holds `item` ("Smallest")."""
    titles = [c.title for c in registry.providers().values() if item in getattr(c, attribute)]
    return " and ".join(titles) if len(titles) < 3 else ", ".join(titles)


class SourcePaths:
    """Source paths resolved as `Path.resolve()` would, each directory resolved once: a source's
    path is its resolved directory joined with its name unless the name is a symbolic link (one
    `lstat` a source tells which, and whether it is a regular file)."""

    def __init__(self) -> None:
        self._dirs: dict[Path, tuple[Path, str | None]] = {}  # directory -> (resolved, problem)
        self._found: dict[tuple[Path, str], tuple[Path, str | None, bool]] = {}

    def _lookup(self, base_dir: Path, written: str) -> tuple[Path, str | None, bool]:
        """(resolved path, why it cannot be resolved or None, whether it is a regular file)."""
        found = self._found.get((base_dir, written))
        if found is not None:
            return found
        joined = base_dir / written
        directory = self._dirs.get(joined.parent)
        if directory is None:
            directory = self._dirs[joined.parent] = (resolve(joined.parent), unresolvable(joined.parent))
        try:
            mode: int | None = os.lstat(joined).st_mode
        except (OSError, ValueError):
            mode = None
        name = joined.name
        if directory[1] is not None:
            found = (resolve(joined), directory[1], False)
        elif name in ("", ".", "..") or (mode is not None and stat.S_ISLNK(mode)):
            path = resolve(joined)
            found = (path, unresolvable(joined), path.is_file())
        else:
            found = (directory[0] / name, None, mode is not None and stat.S_ISREG(mode))
        self._found[(base_dir, written)] = found
        return found

    def unresolvable(self, base_dir: Path, written: str) -> str | None:
        """Why the source `written` cannot be resolved (a symbolic link loop), or None."""
        return self._lookup(base_dir, written)[1]

    def resolve(self, base_dir: Path, written: str) -> Path:
        """The resolved path of the source `written` (relative to `base_dir`)."""
        return self._lookup(base_dir, written)[0]

    def is_file(self, base_dir: Path, written: str) -> bool:
        """Whether the source `written` is (or links to) a regular file."""
        return self._lookup(base_dir, written)[2]


def source_spec(audience: Mapping[str, Any], base_dir: Path, resolved: Path | None = None) -> SourceSpec:
    """The SourceSpec of a schema-valid audience mapping (`resolved`: its path, if known)."""
    written = str(audience["source"])
    delimiter = audience.get("delimiter")
    return SourceSpec(
        path=resolved or resolve(base_dir / written),
        display=written,
        delimiter=DELIMITER_ALIASES.get(delimiter, delimiter) if delimiter else None,
        encoding=audience.get("encoding") or "utf-8-sig",
        sheet=audience.get("sheet"),
    )


@dataclass
class _Checker:
    doc: YamlDocument
    file: str
    base_dir: Path
    env: Mapping[str, str]
    bad: set[PathKey]  # nodes the schema already reported
    paths: SourcePaths = dataclasses.field(default_factory=SourcePaths)
    headers: bool = True  # read each source's header row to check the mapped columns

    def __post_init__(self) -> None:
        self.problems: list[Problem] = []

    def report(self, path: PathKey, message: str, *, at_key: bool = False) -> None:
        mark = self.doc.key_where(path) if at_key else self.doc.where(path)
        self.problems.append(Problem(self.file, mark.line, mark.col, message))

    def reported(self, path: PathKey) -> bool:
        """True when the schema already reported `path` or one of its ancestors."""
        return bool(self.bad) and any(path[:end] in self.bad for end in range(1, len(path) + 1))

    def get(self, path: PathKey, kind: type[T]) -> T | None:
        """The value at `path` when present, of `kind`, and not already reported by the schema."""
        if self.reported(path):
            return None
        node: Any = self.doc.data
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        if kind is float and isinstance(node, int) and not isinstance(node, bool):
            node = float(node)
        return node if isinstance(node, kind) and not (kind is int and isinstance(node, bool)) else None

    def run(self) -> list[Problem]:
        region = self.get(("defaults", "phone_region"), str)
        if region is not None and not valid_region(region):
            self.report(("defaults", "phone_region"), _region_message(region))
        audiences = self.get(("audiences",), dict) or {}
        names: dict[tuple[str, str], str] = {}
        users: dict[str, list[str]] = {}  # provider -> keys of its audiences
        for key in audiences:
            self.audience(str(key), names, users)
        for provider, keys in users.items():
            cls = registry.find(provider)
            if cls is not None:
                self.required_settings(cls, keys)
        self.base_urls(set(users))
        return self.problems

    def base_urls(self, used: set[str]) -> None:
        """Each provider's base URL parses: `providers.X.base_url` here, else (for providers in use)
        its *_BASE_URL variable, which the problem names."""
        for provider, cls in sorted(registry.providers().items()):
            path: PathKey = ("providers", provider, "base_url")
            configured = self.get(path, str)
            if configured is not None and configured.strip():
                problem = base_url_problem(configured.strip())
                if problem:
                    self.report(path, f"base_url {problem}")
                continue
            value = (self.env.get(cls.base_url_env) or "").strip()
            problem = base_url_problem(value) if value and provider in used else None
            if problem:
                self.problems.append(Problem("environment", 0, 0, f"{cls.base_url_env} {problem}"))

    def required_settings(self, cls: type[Provider], keys: list[str]) -> None:
        """Report each required setting of `cls` that neither the file nor the environment sets."""
        providers = self.doc.data.get("providers") if isinstance(self.doc.data, dict) else None
        written = providers.get(cls.name) if isinstance(providers, dict) else None
        effective = cls.effective_settings(written if isinstance(written, dict) else {}, self.env)
        for name, setting in cls.settings.items():
            if not setting.required or self.reported(("providers", cls.name, name)) or effective.get(name):
                continue
            where = f"providers.{cls.name}.{name} in this file"
            if setting.env:
                where += f" or the {setting.env} environment variable"
            self.report(
                ("audiences", keys[0], "provider"),
                f"{cls.title} audiences ({', '.join(keys)}) need a {cls.title} {setting.label or name}: "
                f"set {where}",
            )

    def audience(self, key: str, names: dict[tuple[str, str], str], users: dict[str, list[str]]) -> None:
        base: PathKey = ("audiences", key)
        if self.get(base, dict) is None:
            return
        provider = self.get((*base, "provider"), str)
        columns = self.get((*base, "columns"), dict)
        if provider is not None:
            self.provider_rules(base, provider, columns)
            users.setdefault(provider, []).append(key)
            name = self.get((*base, "name"), str)
            if name is not None and (not name.strip() or has_unsafe(name)):
                # what the schema's pattern misses: a final newline (Python's `$` matches before it)
                # and invisible formatting characters (bidi overrides, zero-width spaces)
                shown = printable(repr(name), 80)
                self.report((*base, "name"), f"'audiences.{key}.name' {shown} is not valid: use a display "
                            "name that is not only spaces and holds no control or invisible characters")
                name = None
            if name is not None:
                first = names.setdefault((provider, name), key)
                if first != key:
                    self.report(
                        (*base, "name"),
                        f"audiences '{first}' and '{key}' are both {registry.title(provider)} audiences "
                        f"named '{name}'; give each a different name (audiences are found by name "
                        "after an interrupted run, so names must be unique per provider)",
                    )
        region = self.get((*base, "phone_region"), str)
        if region is not None and not valid_region(region):
            self.report((*base, "phone_region"), _region_message(region))
        shrink = self.get((*base, "max_shrink"), float)
        if shrink is not None and not math.isfinite(shrink):
            self.report((*base, "max_shrink"), "'max_shrink' must be a number between 0 and 1")
        encoding = self.get((*base, "encoding"), str)
        encoding_error = encoding_problem(encoding) if encoding is not None else None
        if encoding_error:
            self.report((*base, "encoding"), encoding_error)
        self.source_rules(base, columns, encoding_ok=encoding_error is None)

    def provider_rules(self, base: PathKey, provider: str, columns: dict[str, Any] | None) -> None:
        cls = registry.find(provider)
        if cls is None:  # the schema reported it
            return
        title = cls.title
        if columns is not None:
            if cls.identity is Identity.PHONE and "phone" not in columns:
                self.report(
                    (*base, "columns"),
                    f"{title} audiences need a phone column: add 'phone: <header>' under columns",
                )
            if cls.identity is Identity.PHONE_OR_EMAIL and "phone" not in columns and "email" not in columns:
                self.report(
                    (*base, "columns"),
                    f"{title} audiences need a phone or email column: add 'phone: <header>' or "
                    "'email: <header>' under columns",
                )
            for field in columns:
                if field in MAPPABLE_FIELDS and field not in cls.fields:
                    self.report(
                        (*base, "columns", field),
                        f"'{field}' is only for {_owners('fields', field)} audiences; remove it from this "
                        f"{title} audience",
                        at_key=True,
                    )
        for option in AUDIENCE_OPTIONS:
            if option not in cls.audience_options and self.get((*base, option), str) is not None:
                self.report(
                    (*base, option),
                    f"'{option}' is only for {_owners('audience_options', option)} audiences ({title} has "
                    "none); remove it",
                    at_key=True,
                )

    def source_rules(self, base: PathKey, columns: dict[str, Any] | None, *, encoding_ok: bool) -> None:
        if self.get((*base, "source"), dict) is not None:
            self.query_rules(base)
            return
        written = self.get((*base, "source"), str)
        if written is None:
            return
        where = (*base, "source")
        suffix = Path(written).suffix.lower()
        if suffix not in TEXT_EXTENSIONS + EXCEL_EXTENSIONS:
            allowed = ", ".join(TEXT_EXTENSIONS + EXCEL_EXTENSIONS)
            self.report(where, f"source '{written}' has an unsupported type; use one of {allowed}")
            return
        is_text = suffix in TEXT_EXTENSIONS
        for option, applies in (("sheet", not is_text), ("delimiter", is_text), ("encoding", is_text)):
            if not applies and (*base, option) in self.doc.keys:
                kind = "Excel (.xlsx)" if option == "sheet" else "CSV/text"
                self.report((*base, option), f"'{option}' applies only to {kind} sources; remove it",
                            at_key=True)
        loop = self.paths.unresolvable(self.base_dir, written)
        if loop:
            self.report(where, f"source '{written}' cannot be opened: {loop}; fix the path or the link")
            return
        path = self.paths.resolve(self.base_dir, written)
        if not self.paths.is_file(self.base_dir, written):
            state = "is a directory" if path.is_dir() else "does not exist"
            self.report(where, f"source '{written}' {state} (looked for {path}); fix the path, "
                        "which is relative to the config file")
            return
        options = ("delimiter", "encoding", "sheet")
        if not self.headers or not encoding_ok or any((*base, option) in self.bad for option in options):
            return
        audience = self.get(base, dict) or {}
        try:
            headers = read_headers(source_spec(audience, self.base_dir, path))
        except SourceError as exc:
            self.report(where, f"source '{written}' cannot be read: {source_error_detail(exc)}")
            return
        for field, header in (columns or {}).items():
            if isinstance(header, str) and header not in headers:
                self.report((*base, "columns", field), _missing_header(header, headers, written))


    def query_rules(self, base: PathKey) -> None:
        """A query source: file options do not apply; its columns are checked when it runs."""
        for option in FILE_OPTIONS:
            if (*base, option) in self.doc.keys:
                self.report((*base, option), f"'{option}' applies only to file sources, not to a query "
                            "source; remove it", at_key=True)
        query = self.get((*base, "source", "query"), str)
        if query is not None and not query.strip().rstrip(";").strip():
            self.report((*base, "source", "query"), "the query is empty: write one SELECT statement")


def source_error_detail(exc: SourceError) -> str:
    """A SourceError as one line: its located details (file:row: why) when it has them."""
    return "; ".join(str(p) for p in exc.problems) or exc.message


def semantic_problems(
    doc: YamlDocument,
    file: str,
    base_dir: Path,
    env: Mapping[str, str],
    bad: set[PathKey],
    *,
    paths: SourcePaths | None = None,
    headers: bool = True,
) -> list[Problem]:
    """Every non-schema problem of `doc`; `bad` holds the paths the schema already reported.
    Without `headers`, sources are not opened (see `HeaderCheck`)."""
    return _Checker(doc, file, base_dir, env, bad, paths or SourcePaths(), headers).run()


@dataclass(frozen=True)
class HeaderCheck:
    """The header-row check of a declaration loaded without it, for later: `problems(keys)`
    reads the sources of those audiences and reports mapped columns their headers lack."""

    doc: YamlDocument
    file: str
    base_dir: Path
    paths: SourcePaths

    def problems(self, keys: Collection[str]) -> list[Problem]:
        checker = _Checker(self.doc, self.file, self.base_dir, {}, set(), self.paths, headers=True)
        for key in sorted(keys):
            base: PathKey = ("audiences", key)
            encoding = checker.get((*base, "encoding"), str)
            checker.source_rules(
                base,
                checker.get((*base, "columns"), dict),
                encoding_ok=encoding is None or encoding_problem(encoding) is None,
            )
        return checker.problems


def _region_message(region: str) -> str:
    return (
        f"phone_region '{region}' is not a region phone numbers can be read for; "
        "use an ISO 3166 code like US or GB"
    )


def _missing_header(header: str, headers: list[str], source: str) -> str:
    """Bounded and escaped: headers are shown by `masking.shown_header`, at most 30 of them."""
    named = [h for h in headers if h]
    message = f"column '{shown_text(header)}' is not a header in {source}"
    candidates = [h for h in named[:1000] if len(h) <= 200]  # difflib is quadratic in the lengths
    close = difflib.get_close_matches(header[:200], candidates, n=1, cutoff=0.6)
    if close:
        message += f" (did you mean '{shown_header(close[0])}'?)"
    message += f"; its headers are: {header_listing(named)}" if named else "; it has no header row"
    if any(looks_like_data(h) for h in named[:30]):
        message += " (some look like data: does the file lack a header row?)"
    return message
