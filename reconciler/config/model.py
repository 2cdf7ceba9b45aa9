"""The declaration as typed data: what `config.load_declaration` returns. Pure dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A registered provider's name (see reconciler.providers.registry: built-ins and plugins).
ProviderName = str

# Identity and attribute fields a user may map to source headers.
IDENTITY_FIELDS: tuple[str, ...] = ("phone", "email")
ATTRIBUTE_FIELDS: tuple[str, ...] = ("first_name", "last_name", "country", "identifier")
MAPPABLE_FIELDS: tuple[str, ...] = IDENTITY_FIELDS + ATTRIBUTE_FIELDS

DEFAULT_MAX_SHRINK = 0.30  # share of members an update may remove before the guard refuses
DEFAULT_SHRINK_MIN_MEMBERS = 10  # the shrink guard applies to audiences at least this large


@dataclass(frozen=True)
class Location:
    """Where a node was written: file path as the user gave it, 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class SourceSpec:
    """How to read one source file."""

    path: Path  # absolute, resolved against the config file's directory
    display: str  # as written in the declaration (relative), used in messages and plans
    delimiter: str | None = None  # None: sniff among , ; TAB |
    encoding: str = "utf-8-sig"
    sheet: str | None = None  # .xlsx only; None: the first sheet

    @property
    def is_excel(self) -> bool:
        return self.path.suffix.lower() in (".xlsx", ".xlsm")


DEFAULT_STATEMENT_TIMEOUT = 300  # seconds a query source's statements may run (each FETCH too)


@dataclass(frozen=True)
class QuerySpec:
    """How to read one query source: a SQL query run read-only against PostgreSQL.

    The connection URL is read from the environment variable `url_env` only when the query runs,
    so it never sits in the declaration, a plan or a message."""

    query: str
    url_env: str
    statement_timeout: int = DEFAULT_STATEMENT_TIMEOUT  # seconds
    location: Location | None = None  # where `source:` is written in the declaration
    column_locations: dict[str, Location] = field(default_factory=dict)  # mapped field -> its line

    @property
    def display(self) -> str:
        """How plans and reports name the source (never the URL)."""
        return f"query ({self.url_env})"


Source = SourceSpec | QuerySpec


@dataclass(frozen=True)
class AudienceSpec:
    """One declared audience."""

    key: str  # stable identity, never sent to a provider
    provider: ProviderName
    name: str  # display name at the provider
    source: Source  # a file, or a query (see `is_query`)
    columns: dict[str, str]  # mapped field -> source header
    phone_region: str | None  # ISO 3166 alpha-2 for numbers without a country code
    description: str | None = None
    protect: bool = False
    max_shrink: float = DEFAULT_MAX_SHRINK
    shrink_min_members: int = DEFAULT_SHRINK_MIN_MEMBERS
    location: Location | None = None

    @property
    def is_query(self) -> bool:
        """True when the members come from a SQL query rather than a file."""
        return isinstance(self.source, QuerySpec)

    @property
    def identity_field(self) -> str:
        """The field that identifies a member: phone when mapped, else email."""
        return "phone" if "phone" in self.columns else "email"


@dataclass(frozen=True)
class Declaration:
    """A loaded, validated audiences.yaml."""

    path: Path  # absolute path of the config file
    sha256: str  # of the config file's bytes
    version: int
    phone_region: str | None  # defaults.phone_region
    providers: dict[str, dict[str, object]] = field(default_factory=dict)
    audiences: dict[str, AudienceSpec] = field(default_factory=dict)
    # checks.HeaderCheck when loaded without reading source headers (config.load.check_headers)
    header_check: Any = field(default=None, compare=False, repr=False)

    @property
    def base_dir(self) -> Path:
        return self.path.parent
