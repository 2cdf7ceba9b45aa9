"""The provider contract: what every provider client offers and what it cannot do.

Providers never read config or state; they receive what they need as arguments and an injected
`httpx.Client`. Every failure is a `reconciler.errors.ProviderError` (or subclass); an operation a
provider does not offer raises `CapabilityError` (check `capabilities` first).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from reconciler.config.model import AudienceSpec
from reconciler.errors import CapabilityError
from reconciler.sources.members import Member, UploadFile

if TYPE_CHECKING:
    from reconciler.providers.http import ProviderHTTP

MemberStrategy = Literal["put_replace", "add_remove_members", "append_or_recreate"]

# Called with (done, total) during long work (uploads, polling); total may be None.
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class Capabilities:
    rename: bool  # can rename in place
    delete: bool  # can delete an audience
    members: MemberStrategy  # how member changes are carried out
    max_members: int | None = None
    max_upload_bytes: int | None = None


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
    """One provider's API client."""

    name: str
    capabilities: Capabilities

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

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.http.base_url!r})"

    def close(self) -> None:
        if self._owns_client:
            self.http.client.close()
