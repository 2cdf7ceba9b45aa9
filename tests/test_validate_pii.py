"""No member data leaves `reconciler validate`: every raw source value is grepped for in its output."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import phonenumbers
import pytest

from reconciler.cli import main

ROOT = Path(__file__).resolve().parent.parent
PII = Path(__file__).resolve().parent / "fixtures" / "config" / "pii" / "audiences.yaml"
IDENTITY_HEADERS = {"phone", "mobile", "e-mail", "email"}


def cells(source: Path) -> Iterator[tuple[str, str]]:
    """(header, cell text) of every non-empty cell of a CSV (any delimiter, optional BOM) or .xlsx."""
    if source.suffix == ".xlsx":
        book = openpyxl.load_workbook(source, read_only=True)
        sheet = book.worksheets[0]
        rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
    else:
        text = source.read_text(encoding="utf-8-sig")
        rows = list(csv.reader(text.splitlines(), delimiter=";" if ";" in text.splitlines()[0] else ","))
    header, *data = rows
    for row in data:
        for name, value in zip(header, row, strict=False):
            if value.strip():
                yield name, value.strip()


def forbidden(source: Path) -> set[str]:
    """Every raw value that must never be printed, in the forms a leak could take."""
    values: set[str] = set()
    for header, value in cells(source):
        values.add(value)
        if header.lower() in IDENTITY_HEADERS:
            values.add(value.lower())
            digits = re.sub(r"\D", "", value)
            if len(digits) >= 7:
                values.add(digits)
                for region in ("US", "GB", "AU"):
                    try:
                        number = phonenumbers.parse(value, region)
                    except phonenumbers.NumberParseException:
                        continue
                    values.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return {v for v in values if len(v) >= 3 and not v.startswith("C-")}  # caller ids are not personal


def outputs(capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path) -> str:
    """Everything validate writes: text and JSON reports, stderr, and the rejects file."""
    collected = []
    for extra in ([], ["--format", "json"]):
        rejects = tmp_path / f"rejects{len(extra)}.csv"
        main(["validate", "-c", str(config), "--rejects", str(rejects), *extra])
        out, err = capsys.readouterr()
        collected += [out, err, rejects.read_text(encoding="utf-8")]
    return "\n".join(collected)


@pytest.mark.parametrize(
    ("config", "sources"),
    [
        (PII, ["data/people.csv"]),
        (ROOT / "audiences.yaml", ["data/vip-customers.csv", "data/whop-buyers.csv", "data/callers.xlsx"]),
    ],
)
def test_no_raw_value_appears_in_any_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, config: Path, sources: list[str]
) -> None:
    text = outputs(capsys, config, tmp_path)
    assert "invalid_phone" in text  # the run did report rows (masked)
    values = set().union(*(forbidden(config.parent / s) for s in sources))
    assert len(values) >= 40  # the grep has plenty to look for
    leaked = sorted(v for v in values if v in text)
    assert leaked == []


def test_broken_header_row_is_not_echoed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A source without a header row: the 'headers' the error lists are member data, so masked."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "m.csv").write_text("+12025550177,grace@example.com\n+12025550178,x@example.com\n")
    config = tmp_path / "audiences.yaml"
    config.write_text(
        "version: 1\naudiences:\n  a:\n    provider: commbox\n    name: A\n    source: data/m.csv\n"
        "    columns: {phone: Phone}\n"
    )
    assert main(["validate", "-c", str(config)]) == 1
    out, err = capsys.readouterr()
    assert "lack a header row" in err
    for value in ("+12025550177", "12025550177", "grace@example.com"):
        assert value not in out + err
