"""The outcome of an apply: per audience, succeeded / failed / not attempted. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"


@dataclass
class Outcome:
    """What happened to one planned change."""

    key: str
    provider: str
    action: str
    status: Status
    message: str = ""  # what was done, or why it failed / was not attempted
    warnings: list[str] = field(default_factory=list)
    provider_id: str | None = None
    seconds: float = 0.0


@dataclass
class ApplyReport:
    """Every outcome of a run, in plan order."""

    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False

    def by_status(self, status: Status) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is status]

    @property
    def failed(self) -> bool:
        """True when any change failed or was not attempted."""
        return any(o.status is not Status.SUCCEEDED for o in self.outcomes) or self.interrupted

    def summary(self) -> str:
        """One line, e.g. 'Apply: 3 succeeded, 1 failed, 0 not attempted.'"""
        counts = {s: len(self.by_status(s)) for s in Status}
        return (
            f"Apply: {counts[Status.SUCCEEDED]} succeeded, {counts[Status.FAILED]} failed, "
            f"{counts[Status.NOT_ATTEMPTED]} not attempted."
        )
