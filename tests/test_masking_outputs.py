"""Finding 1 of issue 8: no member value leaks through any output (validate, plan in every format,
the saved plan, the rejects file), whatever the shape of the cell."""

from __future__ import annotations

import csv
import re
import tempfile
from pathlib import Path

import pytest
from hostile_support import addresses, every_output, hostile, without_digests, write_project
from hypothesis import given, settings
from hypothesis import strategies as st

HEADER = ["Phone", "Email", "First", "Country"]


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([HEADER, *rows])


def assert_not_leaked(cells: list[str], text: str) -> None:
    """No run of 6+ digits of any cell and no address of any cell appears in `text`."""
    digits = "\n".join("".join(ch for ch in cell if ch.isdigit()) for cell in cells)
    for run in re.findall(r"\d{6,}", without_digests(text)):
        assert run not in digits, f"digits {run[:40]!r} of a cell survive in the output"
    for cell in cells:
        for found in addresses(cell):
            assert found not in text, f"address {found!r} survives in the output"


def test_several_addresses_in_one_cell_are_masked_everywhere(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    cells = ["ann@leak.example; jane.doe@leak.example", "7" * 30_000, "4155550123@leak..example"]
    write_rows(tmp_path / "data/people.csv", [
        ["+12025550100", "ok@example.com", "Ok", "US"],
        ["+12025550101", cells[0], "Ann", "US"],
        [cells[1], "big@example.com", "Big", "US"],
        ["+12025550102", cells[2], "Tel", "US"],
    ])
    codes, text = every_output(config)
    assert codes == [0, 0, 0, 0, 0]
    assert "invalid_email" in text and "invalid_phone" in text
    assert "a***" in text and "4***@l***.example" not in text and "4***@l***" in text
    assert "jane.doe" not in text and "leak.example" not in text
    assert_not_leaked(cells, text)
    assert len(text) < 20_000  # a 30,000-digit cell is not copied into any sample


@settings(max_examples=25)
@given(st.lists(st.tuples(hostile, hostile, st.text(max_size=10), hostile), min_size=1, max_size=6))
def test_hostile_cells_never_leak_into_any_output(rows: list[tuple[str, str, str, str]]) -> None:
    rows = [tuple(cell[:40_000] for cell in row) for row in rows]  # type: ignore[misc]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = write_project(root)
        good = ["+12025550100", "ok@example.com", "Ok", "US"]
        write_rows(root / "data/people.csv", [good, *map(list, rows)])
        codes, text = every_output(config)
    assert set(codes) <= {0, 1}
    assert "Internal error" not in text and "Traceback" not in text
    cells = [cell for row in rows for cell in row]
    assert_not_leaked(cells, text)
    for line in text.splitlines():
        if "invalid_" in line and line.lstrip().startswith(("row", "invalid")):
            assert len(line.split()[-1]) <= 16 + 20


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_validate_samples_are_bounded(tmp_path: Path, fmt: str) -> None:
    config = write_project(tmp_path)
    write_rows(tmp_path / "data/people.csv", [
        ["+12025550100", "ok@example.com", "Ok", "US"],
        ["8" * 32_000, "x@example.com", "X", "US"],
    ])
    codes, text = every_output(config)
    assert codes[0] == 0
    assert "8" * 6 not in text and len(text) < 20_000
