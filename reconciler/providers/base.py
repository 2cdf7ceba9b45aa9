"""The provider contract: one class per provider declares everything the core needs to know.

A provider class carries its profile as class attributes (title, environment variable names,
settings schema, mappable fields and identity, limits, capabilities with the member strategy, the
upload file format, its emulator) and implements the API calls as methods. The core asks the
class (through `reconciler.providers.registry`) and never compares provider names.

Providers never read config or state; they receive what they need as arguments and an injected
`httpx.Client`. Every failure is a `reconciler.errors.ProviderError` (or subclass); an operation a
provider does not offer raises `CapabilityError` (check `capabilities` first).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler.config.model import AudienceSpec
from reconciler.errors import CapabilityError
from reconciler.sources.members import Member, UploadFile

if TYPE_CHECKING:
    import httpx

    from reconciler.providers.http import ProviderHTTP

# Called with (done, total) during long work (uploads, polling); total may be None.
Progress = Callable[[int, int | None], None]


class MemberStrategy(StrEnum):
    """How a provider carries out a change of members: a closed set the planner and executor know."""

    PUT_REPLACE = "put_replace"  # upload the whole list; it replaces every member
    ADD_REMOVE = "add_remove_members"  # list the members, delete and add in place
    APPEND_OR_RECREATE = "append_or_recreate"  # append new members; any removal needs a new audience

    @property
    def resyncs(self) -> bool:
        """True when an update makes the provider hold exactly the source, whatever it held before."""
        return self is not MemberStrategy.APPEND_OR_RECREATE

    @property
    def uploads_whole_list(self) -> bool:
        """True when an update re-uploads the whole file (so new columns travel with it)."""
        return self is MemberStrategy.PUT_REPLACE


class Identity(StrEnum):
    """Which mapped field identifies a member at the provider."""

    PHONE = "phone"  # every row needs a valid phone
    PHONE_OR_EMAIL = "phone_or_email"  # a phone or an e-mail column; phone wins when both are mapped


@dataclass(frozen=True)
class Capabilities:
    """What a provider can change in place."""

    rename: bool  # can rename in place
    delete: bool  # can delete an audience
    members: MemberStrategy  # how member changes are carried out
    list_members: bool = False  # can list an audience's members (import fingerprints them)


@dataclass(frozen=True)
class Limits:
    """A provider's documented limits, checked offline by validate and plan."""

    max_members: int | None = None  # members per audience
    max_upload_bytes: int | None = None  # bytes of one upload file


@dataclass(frozen=True)
class Setting:
    """A provider setting under `providers.<name>` in the declaration (besides `base_url`)."""

    description: str
    env: str | None = None  # environment variable holding its default (read once, at load)
    required: bool = False  # needed by every audience of this provider
    label: str = ""  # how messages name it ("account id")
    relevant: bool = True  # changes what the provider sees (part of the audience's settings record)
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string", "minLength": 1})


@dataclass(frozen=True)
class Endpoint:
    """Where a provider client sends its calls and with which token (the sandbox passes its own)."""

    base_url: str
    token: str


_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_]+")


def sanitise_header(name: str, fallback: str) -> str:
    """A column name of letters, digits and '_' only."""
    clean = _NOT_NAME_CHAR.sub("_", name).strip("_")
    return clean or fallback


@dataclass
class RemoteAudience:
    """An audience as the provider reports it (no member data)."""

    id: str
    name: str
    status: str = "ready"  # provider status; CommBox/Smallest: "ready"
    member_count: int | None = None
    kind: str | None = None  # CommBox "Static" | "Dynamic"
    error_message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.status in ("ready", "partial")


class Provider(ABC):
    """One provider: its profile (class attributes, asked by the core) and its API client."""

    name: ClassVar[str]  # the registry name, as written in `provider:`
    title: ClassVar[str]  # how messages name it ("CommBox")
    full_title: ClassVar[str] = ""  # the product's full name, for listings (default: title)
    order: ClassVar[int] = 100  # position in listings (built-ins first)
    token_env: ClassVar[str]  # environment variable holding the bearer token
    base_url_env: ClassVar[str]  # environment variable overriding the base URL
    default_base_url: ClassVar[str]  # the public API
    settings: ClassVar[Mapping[str, Setting]] = {}  # providers.<name>.* besides base_url
    fields: ClassVar[tuple[str, ...]] = ("phone", "email", "first_name", "last_name", "country")
    identity: ClassVar[Identity] = Identity.PHONE
    audience_options: ClassVar[tuple[str, ...]] = ()  # optional audience keys it takes ("description")
    limits: ClassVar[Limits] = Limits()
    capabilities: ClassVar[Capabilities]
    emulator: ClassVar[str | None] = None  # "module:Class" of its emulator (a ProviderApi)

    # -- profile helpers (class level: no client needed) ---------------------------------------

    @classmethod
    def upload_headers(cls, columns: Mapping[str, str]) -> dict[str, str]:
        """Mapped field -> column header in the upload file (default: the field names)."""
        return {f: f for f in cls.fields if f in columns}

    @classmethod
    def upload_cell(cls, field: str, value: str) -> str:
        """How a normalised value is written in the upload file (default: as is)."""
        return value

    @classmethod
    def effective_settings(cls, settings: Mapping[str, object], env: Mapping[str, str]) -> dict[str, object]:
        """`settings` with each unset setting that has an environment variable taken from `env`
        (the one place such defaults are read: at load, and when a client is built from env)."""
        result = dict(settings)
        for key, setting in cls.settings.items():
            current = result.get(key)
            if isinstance(current, str):
                current = current.strip()
                result[key] = current
            if not current and setting.env and (env.get(setting.env) or "").strip():
                result[key] = env[setting.env].strip()
        return result

    @classmethod
    def relevant_settings(cls) -> tuple[str, ...]:
        """Settings that change what the provider sees of an audience."""
        return tuple(sorted(k for k, s in cls.settings.items() if s.relevant))

    @classmethod
    def connect(
        cls,
        endpoint: Endpoint,
        settings: Mapping[str, object],
        client: httpx.Client,
        *,
        owns_client: bool,
        sleep: Callable[[float], None],
    ) -> Provider:
        """A client for `endpoint`, with the provider's settings and an injected `httpx.Client`
        (`HTTPProvider` implements it; a provider speaking HTTP subclasses that)."""
        raise NotImplementedError(f"{cls.__name__} does not say how to connect")

    @abstractmethod
    def list_audiences(self) -> list[RemoteAudience]:
        """Every audience visible to the token (all pages)."""

    @abstractmethod
    def read(self, audience_id: str) -> RemoteAudience | None:
        """One audience, or None when the provider does not know it."""

    @abstractmethod
    def create(
        self,
        spec: AudienceSpec,
        upload: UploadFile,
        *,
        idempotency_key: str,
        progress: Progress | None = None,
    ) -> RemoteAudience:
        """Create an audience from `upload` and return it once usable (Whop waits for ready/partial)."""

    def replace_members(
        self, audience_id: str, upload: UploadFile, *, progress: Progress | None = None
    ) -> None:
        """Replace all members (CommBox PUT /Audiences/{id})."""
        raise self._cannot("replace members")

    def append_members(
        self,
        audience_id: str,
        spec: AudienceSpec,
        upload: UploadFile,
        *,
        idempotency_key: str,
        progress: Progress | None = None,
    ) -> RemoteAudience:
        """Append members (Whop add_people) and return the audience once usable again."""
        raise self._cannot("append members")

    def iter_members(self, audience_id: str, spec: AudienceSpec) -> Iterator[tuple[str, Member]]:
        """(provider member id, normalised member) for every member (Smallest listing)."""
        raise self._cannot("list members")

    def add_members(self, audience_id: str, spec: AudienceSpec, members: Sequence[Member]) -> int:
        """Add members in batches; returns how many the provider added."""
        raise self._cannot("add members")

    def remove_members(self, audience_id: str, member_ids: Sequence[str]) -> int:
        """Remove members by provider member id in batches; returns how many were deleted."""
        raise self._cannot("remove members")

    def rename(self, audience_id: str, name: str) -> None:
        """Rename in place (Whop PATCH)."""
        raise self._cannot("rename an audience")

    def delete(self, audience_id: str) -> None:
        """Delete the audience; an audience the provider no longer knows counts as deleted."""
        raise self._cannot("delete an audience")

    def find_by_name(self, name: str) -> list[RemoteAudience]:
        """Audiences whose display name is exactly `name` (to settle a create whose answer was lost)."""
        return [a for a in self.list_audiences() if a.name == name]

    def close(self) -> None:
        """Release the HTTP client (when the provider built it)."""
        return None

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _cannot(self, what: str) -> CapabilityError:
        """The error for an operation this provider does not offer (see `capabilities`)."""
        return CapabilityError(f"cannot {what}", provider=self.name)


class HTTPProvider(Provider):
    """A provider speaking HTTP through one `ProviderHTTP`; closes the client when it built it."""

    def __init__(self, http: ProviderHTTP, *, owns_client: bool = False) -> None:
        self.http = http
        self._owns_client = owns_client

    @classmethod
    def http_options(cls) -> dict[str, Any]:
        """Extra `ProviderHTTP` options of this provider (a retry policy, fixed headers)."""
        return {}

    @classmethod
    def session(
        cls, endpoint: Endpoint, client: httpx.Client, sleep: Callable[[float], None]
    ) -> ProviderHTTP:
        """The provider's HTTP session on `endpoint` over the injected client."""
        from reconciler.providers.http import ProviderHTTP

        return ProviderHTTP(
            cls.name, token=endpoint.token, base_url=endpoint.base_url, client=client, sleep=sleep,
            token_env=cls.token_env, **cls.http_options(),
        )

    @classmethod
    def connect(
        cls,
        endpoint: Endpoint,
        settings: Mapping[str, object],
        client: httpx.Client,
        *,
        owns_client: bool,
        sleep: Callable[[float], None],
    ) -> Provider:
        return cls(cls.session(endpoint, client, sleep), owns_client=owns_client)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.http.base_url!r})"

    def close(self) -> None:
        if self._owns_client:
            self.http.client.close()
