"""Upload files per provider, their headers, determinism; the rejects file."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sources_support import KEY, make_spec, write_csv

from reconciler.config.model import ProviderName
from reconciler.sources import (
    UploadFile,
    iter_members,
    render_upload,
    scan_source,
    upload_headers,
    write_rejects,
)

ROWS = [
    ["Mobile Phone", "E-mail", "First", "Last", "Country", "Customer ID"],
    ["(415) 555-0123", "Ann@Example.com", "Ann", "Lee", "us", "c-1"],
    ["+44 20 7946 0123", "", "Bob", "", "GB", "c-2"],
    ["+1 415 555 0123", "dupe@example.com", "Dupe", "", "US", "c-3"],
    ["bad", "", "", "", "", ""],
]
ALL = {"phone": "Mobile Phone", "email": "E-mail", "first_name": "First", "last_name": "Last",
       "country": "Country", "identifier": "Customer ID"}


def render(
    tmp_path: Path, provider: ProviderName, name: str = "up.csv"
) -> tuple[list[list[str]], UploadFile]:
    spec = make_spec(write_csv(tmp_path / "src.csv", ROWS), ALL, provider=provider)
    upload = render_upload(spec, iter_members(spec), tmp_path / name)
    with open(upload.path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle)), upload


def test_commbox_phone1_without_plus(tmp_path: Path) -> None:
    rows, upload = render(tmp_path, "commbox")
    assert rows == [
        ["phone1", "email", "first_name", "last_name"],
        ["14155550123", "ann@example.com", "Ann", "Lee"],
        ["442079460123", "", "Bob", ""],
    ]
    assert upload.rows == 2 and upload.headers == ("phone1", "email", "first_name", "last_name")


def test_smallest_sanitised_phone_header_and_identifier(tmp_path: Path) -> None:
    rows, _ = render(tmp_path, "smallest")
    assert rows == [["Mobile_Phone", "Customer_ID"], ["+14155550123", "c-1"], ["+442079460123", "c-2"]]


def test_smallest_never_duplicates_column_names(tmp_path: Path) -> None:
    spec = make_spec(tmp_path / "x.csv", {"phone": "id", "identifier": "id!"}, provider="smallest")
    headers = upload_headers(spec)
    assert len(set(headers.values())) == 2 and all(h.replace("_", "").isalnum() for h in headers.values())


def test_whop_headers_by_field(tmp_path: Path) -> None:
    rows, _ = render(tmp_path, "whop")
    assert rows[0] == ["phone", "email", "first_name", "last_name", "country"]
    assert rows[1] == ["+14155550123", "ann@example.com", "Ann", "Lee", "US"]


@pytest.mark.parametrize("provider", ["commbox", "smallest", "whop"])
def test_rendering_is_deterministic(tmp_path: Path, provider: ProviderName) -> None:
    _, first = render(tmp_path, provider, "a.csv")
    _, second = render(tmp_path, provider, "b.csv")
    assert first.sha256 == second.sha256 and first.size == second.size
    assert not list(tmp_path.glob("*.part"))


def test_write_rejects_is_masked(tmp_path: Path) -> None:
    spec = make_spec(write_csv(tmp_path / "src.csv", [*ROWS, ["+1 415 555 01", "", "", "", "", ""]]), ALL)
    scan = scan_source(spec, KEY)
    dest = tmp_path / "rejects.csv"
    write_rejects(scan, dest)
    with open(dest, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "reason", "column", "masked_value"]
    assert [r[:3] for r in rows[1:]] == [
        ["5", "invalid_phone", "Mobile Phone"], ["6", "invalid_phone", "Mobile Phone"],
    ]
    assert "555 01" not in dest.read_text(encoding="utf-8")
