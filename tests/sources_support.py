"""Helpers shared by the tests/test_sources_*.py files: specs and small source files."""

from __future__ import annotations

import csv
from pathlib import Path

from reconciler.config.model import AudienceSpec, ProviderName, SourceSpec

KEY = b"test-key-0123456789abcdef0123456"


def make_spec(
    path: Path,
    columns: dict[str, str] | None = None,
    *,
    provider: ProviderName = "whop",
    region: str | None = "US",
    delimiter: str | None = None,
    encoding: str = "utf-8-sig",
    sheet: str | None = None,
) -> AudienceSpec:
    """An AudienceSpec reading `path` (displayed as its file name)."""
    return AudienceSpec(
        key="aud",
        provider=provider,
        name="Audience",
        source=SourceSpec(path=path, display=path.name, delimiter=delimiter, encoding=encoding, sheet=sheet),
        columns=dict(columns if columns is not None else {"phone": "Phone"}),
        phone_region=region,
    )


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    """Write rows (header first) as UTF-8 CSV."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return path
