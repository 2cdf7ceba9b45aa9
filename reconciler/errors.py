"""The one exception hierarchy of reconciler.

Every error a user can cause or meet derives from `ReconcilerError`; the CLI maps each to an exit
code and prints its message (never a traceback). Messages must never contain tokens or raw PII.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One user-facing problem, located in a file (line/col 1-based; 0 when unknown)."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
            if self.col:
                where += f":{self.col}"
        return f"{where}: {self.message}"


class ReconcilerError(Exception):
    """Base of every error the tool reports to the user."""

    exit_code: int = 1

    def __init__(self, message: str, *, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems: list[Problem] = list(problems or [])

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message, *(f"  {p}" for p in self.problems)]
        return "\n".join(lines)


class UsageError(ReconcilerError):
    """Bad command-line flags or arguments."""


class ConfigError(ReconcilerError):
    """The declaration (audiences.yaml) is invalid. Carries every problem found, not the first."""


class SourceError(ReconcilerError):
    """A source file cannot be read at all (missing, unreadable, wrong format, bad header)."""


class StateError(ReconcilerError):
    """The state directory is unreadable, corrupt, or from an incompatible version."""


class LockError(StateError):
    """Another run holds the state lock."""


class PlanError(ReconcilerError):
    """A saved plan cannot be read, or no longer matches its inputs (stale)."""


class StalePlanError(PlanError):
    """A saved plan's inputs (state lineage/serial, declaration or source digests) have moved."""


class GuardError(ReconcilerError):
    """A safety guard refused the change (exit 3)."""

    exit_code = 3


class ProviderError(ReconcilerError):
    """A provider answered with an error, or could not be reached after retries."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.status = status
        self.retryable = retryable


class AuthError(ProviderError):
    """A token is missing or rejected; the message names the environment variable to set."""


class NotFoundError(ProviderError):
    """The provider does not know the requested object (HTTP 404)."""


class CapabilityError(ProviderError):
    """The provider cannot do what was asked (e.g. rename on CommBox, PUT on a Dynamic audience)."""
