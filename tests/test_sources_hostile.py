"""Issue 8, findings 2 and 3 and the source input classes, tried as a user would: `reconciler
validate` and `reconciler plan` on real files. Each is exit 1 with one clear message naming the
file and line, never a traceback or "Internal error", never a silent guess."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hostile_support import run_cli, write_project
from sources_support import KEY, make_spec

from reconciler.errors import SourceError
from reconciler.sources import scan, scan_source

HEADER = "Phone,Email,First,Country"


def rows(count: int) -> list[str]:
    return [f"+1202555{i:04d},u{i}@example.com,N{i},US" for i in range(count)]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fails(config: Path, *where: str) -> str:
    """Run validate and plan; both exit 1 with a located, readable error. Returns validate's stderr."""
    texts = []
    for command in ("validate", "plan"):
        code, out, err = run_cli(command, "-c", str(config), "--state", str(config.parent / "state"))
        assert code == 1, (command, out, err)
        assert "Traceback" not in out + err and "Internal error" not in out + err
        for part in where:
            assert part in err, (command, part, err)
        texts.append(err)
    return texts[0]


def test_unclosed_quote_is_an_error_at_the_line_it_opens(tmp_path: Path) -> None:
    """Finding 2: `"Ann` in row 3 of 1,000 rows read as 2 rows, exit 0."""
    config = write_project(tmp_path)
    lines = [HEADER, *rows(1000)]
    lines[3] = '+12025559999,ann@example.com,"Ann,US'
    write_lines(tmp_path / "data/people.csv", lines)
    err = fails(config, "data/people.csv:4:", "never closed")
    assert len(err) < 1000


def test_unbalanced_quote_closed_later_is_an_error_at_the_line_it_opens(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    lines = [HEADER, *rows(50)]
    lines[3] = '+12025559999,ann@example.com,"Ann,US'
    lines[20] = '+12025558888,"bo@example.com",Bo,US'
    write_lines(tmp_path / "data/people.csv", lines)
    fails(config, "data/people.csv:4:", "closing '\"' on line 21")


@pytest.mark.parametrize("bad", ["+12025559999,x@example.com,Ann", "+12025559999,x@example.com,Ann,US,extra"])
def test_a_row_with_more_or_fewer_fields_than_the_header_is_an_error(tmp_path: Path, bad: str) -> None:
    config = write_project(tmp_path)
    lines = [HEADER, *rows(30)]
    lines[17] = bad
    write_lines(tmp_path / "data/people.csv", lines)
    fails(config, "data/people.csv:18:", "but the header has 4")


def test_a_cell_over_the_limit_is_an_error_and_is_not_printed(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    lines = [HEADER, *rows(5)]
    lines[3] = "+12025559999,x@example.com," + "A" * 40_000 + ",US"
    write_lines(tmp_path / "data/people.csv", lines)
    err = fails(config, "data/people.csv:4:", "longer than 32,767 characters")
    assert "AAAAAAAAAA" not in err and len(err) < 1000


def test_a_10_mb_header_line_is_never_printed(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    (tmp_path / "data/people.csv").write_text(HEADER + "," + "H" * 10_000_000 + "\n", encoding="utf-8")
    err = fails(config, "data/people.csv:1:")
    assert len(err) < 1000
    many = ",".join(f"Col{i}-" + "x" * 30_000 for i in range(300))
    (tmp_path / "data/people.csv").write_text("Mobile,Email,First,Country," + many + "\n", encoding="utf-8")
    err = fails(config, "'Phone' is not a header", "and 274 more")
    assert len(err) < 3000


def test_escape_sequences_in_headers_never_reach_the_terminal(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    write_lines(tmp_path / "data/people.csv", ["Ph\x1b[2J\x1b]0;owned\x07one,Email,First,Country", *rows(2)])
    err = fails(config, "\\x1b[2J")
    assert "\x1b" not in err and "\x07" not in err


def test_duplicate_mapped_headers_are_an_error_naming_them(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    write_lines(tmp_path / "data/people.csv", ["Phone,Email,First,Country,Email,Note,Note",
                                               *(r + ",dup@example.com,a,b" for r in rows(3))])
    fails(config, "data/people.csv:1:", "names column 'Email' 2 times")
    write_lines(tmp_path / "data/people.csv", ["Phone,Email,First,Country,Note,Note",
                                               *(r + ",a,b" for r in rows(3))])
    assert run_cli("validate", "-c", str(config))[0] == 0  # unmapped repeats are not read: no doubt


def test_an_invalid_country_is_a_row_reason(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    write_lines(tmp_path / "data/people.csv", [
        HEADER, *rows(3), "+12025559999,z@example.com,Z,Narnia", "+12025559998,y@example.com,Y,ZZ",
        "+12025559997,w@example.com,W, gb ",
    ])
    code, out, err = run_cli("validate", "-c", str(config))
    assert code == 0, err
    assert "invalid_country 2" in out and "row 5 invalid_country N***" in out
    assert "4 members" in out


@pytest.mark.parametrize("encoding", ["rot13", "base64", "zlib", "hex", "bz2", "uu"])
def test_a_non_text_encoding_is_refused_at_validation(tmp_path: Path, encoding: str) -> None:
    config = write_project(tmp_path)
    write_lines(tmp_path / "data/people.csv", [HEADER, *rows(3)])
    config.write_text(config.read_text() + f"    encoding: {encoding}\n", encoding="utf-8")
    fails(config, "audiences.yaml:12:", f"'{encoding}' is not a text encoding")


def test_utf16_without_a_byte_order_mark_is_a_clear_error(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    data = "\n".join([HEADER, *rows(3)]) + "\n"
    config.write_text(config.read_text() + "    encoding: utf-16\n", encoding="utf-8")
    for content in (data.encode("utf-16-le"), data.encode("utf-8"), data.encode("utf-8") + b"x"):
        (tmp_path / "data/people.csv").write_bytes(content)
        fails(config, "data/people.csv:1:", "byte-order mark; declare utf-16-le or utf-16-be")
    (tmp_path / "data/people.csv").write_bytes(data.encode("utf-16"))  # with its BOM
    assert run_cli("validate", "-c", str(config))[0] == 0


def test_symbolic_link_loops_are_clear_errors(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    (tmp_path / "data/people.csv").symlink_to("loop.csv")
    (tmp_path / "data/loop.csv").symlink_to("people.csv")
    fails(config, "audiences.yaml:10:", "symbolic link loop")
    looped = write_project(tmp_path / "dir-loop", source="inner/people.csv")  # the directory loops
    (looped.parent / "inner").symlink_to("outer")
    (looped.parent / "outer").symlink_to("inner")
    fails(looped, "audiences.yaml:10:", "symbolic link loop")
    (tmp_path / "c1.yaml").symlink_to("c2.yaml")
    (tmp_path / "c2.yaml").symlink_to("c1.yaml")
    fails(tmp_path / "c1.yaml", "c1.yaml", "symbolic links")


def lying_dimension(path: Path, ref: str) -> Path:
    """Rewrite the workbook at `path` so its sheet's stored <dimension ref> says `ref`."""
    with zipfile.ZipFile(path) as old:
        items = [(info, old.read(info.filename)) for info in old.infolist()]
    with zipfile.ZipFile(path, "w") as new:
        for info, body in items:
            if info.filename.startswith("xl/worksheets/sheet"):
                lie = f'<dimension ref="{ref}"/>'.encode()
                body, count = re.subn(rb'<dimension ref="[^"]*"\s*/>', lie, body)
                assert count == 1
            new.writestr(info, body)
    return path


@pytest.mark.parametrize("ref", ["A1:C2", "A1", "C5:D10"])
def test_xlsx_rows_and_columns_outside_the_stored_dimension_are_read(tmp_path: Path, ref: str) -> None:
    """Finding 3: dimension A1:C2 with 100 rows read as 1 row; A1 hid every column but the first."""
    config = write_project(tmp_path, "data/people.xlsx")
    book = openpyxl.Workbook()
    book.active.append(["Phone", "Email", "First", "Country"])
    for line in rows(100):
        book.active.append(line.split(","))
    book.save(tmp_path / "data/people.xlsx")
    lying_dimension(tmp_path / "data/people.xlsx", ref)
    code, out, err = run_cli("validate", "-c", str(config))
    assert code == 0, err
    assert "100 read: 100 valid" in out and "members    100" in out


def test_fast_path_detects_bad_rows_and_huge_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parallel byte-span reader finds what the streaming reader finds, at the same line."""
    monkeypatch.setattr(scan, "RANGE_MIN_BYTES", 1_000)
    monkeypatch.setattr(scan, "RANGE_BYTES", 300)
    columns = {"phone": "Phone", "email": "Email", "first_name": "First", "country": "Country"}
    for line, bad in ((150, "+12025559999,x@example.com,Ann"), (170, "+12025559999,x@example.com,"
                                                                      + "B" * 33_000 + ",US")):
        lines = [HEADER, *rows(300)]
        lines[line - 1] = bad
        path = write_lines(tmp_path / "big.csv", lines)
        errors = []
        for workers in (2, 1):
            with pytest.raises(SourceError) as caught:
                scan_source(make_spec(path, columns), KEY, workers=workers)
            errors.append([(p.line, p.message) for p in caught.value.problems])
        assert errors[0] == errors[1] and errors[0][0][0] == line


def test_no_traceback_from_outside(tmp_path: Path) -> None:
    """The same as a separate process: exit 1, the located message, nothing else."""
    write_project(tmp_path)
    lines = [HEADER, *rows(1000)]
    lines[3] = '+12025559999,ann@example.com,"Ann,US'
    write_lines(tmp_path / "data/people.csv", lines)
    done = subprocess.run([sys.executable, "-m", "reconciler", "validate"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "data/people.csv:4: a quoted field opens here and is never closed" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 2
