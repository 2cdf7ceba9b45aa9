"""CSV reading: BOM, delimiters, encodings, quoting, row numbers, unreadable files, fuzz."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sources_support import KEY, make_spec, write_csv

from reconciler.errors import SourceError
from reconciler.sources import read_headers, scan_source
from reconciler.sources.csvread import sniff_delimiter


def test_bom_never_corrupts_first_header(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfPhone,Name\n+14155550123,Ann\n")
    assert read_headers(make_spec(path).source) == ["Phone", "Name"]
    # also when the user forces plain utf-8
    assert read_headers(make_spec(path, encoding="utf-8").source) == ["Phone", "Name"]
    assert scan_source(make_spec(path), KEY).member_count == 1


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    path = write_csv(tmp_path / "d.csv", [["Phone", "Email"], ["+14155550123", "a@example.com"]], delimiter)
    spec = make_spec(path, {"phone": "Phone", "email": "Email"})
    assert read_headers(spec.source) == ["Phone", "Email"]
    scan = scan_source(spec, KEY)
    assert (scan.rows_read, scan.member_count, scan.invalid) == (1, 1, {})


def test_declared_delimiter_wins(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("Phone;Note\n+14155550123;a,b,c\n", encoding="utf-8")
    assert read_headers(make_spec(path).source) == ["Phone", "Note"]
    assert read_headers(make_spec(path, delimiter=",").source) == ["Phone;Note"]


def test_sniff_ignores_quoted_delimiters() -> None:
    assert sniff_delimiter('"a;b;c",d\n') == ","
    assert sniff_delimiter("only\n") == ","


def test_quoted_fields_and_embedded_newlines_count_records(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(
        'Phone,Note\n+14155550123,"line one\nline two"\n"+1 (415) 555-0124","x, y"\nnot a phone,z\n',
        encoding="utf-8",
    )
    scan = scan_source(make_spec(path), KEY)
    assert scan.rows_read == 3 and scan.member_count == 2
    assert [(i.row, i.reason) for i in scan.issues] == [(4, "invalid_phone")]  # record 3 -> row 4


def test_blank_lines_keep_spreadsheet_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("Phone,Name\n+14155550123,A\n\n,\n,Bo\nbad,C\n", encoding="utf-8")
    scan = scan_source(make_spec(path), KEY)
    assert scan.rows_read == 3  # the empty line and the delimiters-only record are skipped
    assert [(i.row, i.reason) for i in scan.issues] == [(5, "missing_phone"), (6, "invalid_phone")]


@pytest.mark.parametrize("row", ["Ann", "Ann,+14155550123,extra"])
def test_a_row_with_another_number_of_fields_is_an_error(tmp_path: Path, row: str) -> None:
    """Never a guess: a short row is not padded, a long one not cut (issue 8, finding 2)."""
    path = tmp_path / "s.csv"
    path.write_text(f"Name,Phone\nBo,+14155550124\n\n,\n{row}\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        scan_source(make_spec(path), KEY)
    fields = row.count(",") + 1
    assert f"s.csv:5: this row has {fields} field" in str(err.value) and "the header has 2" in str(err.value)


def test_encoding_option(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("Phone,Prénom\n+14155550123,Zoë\n".encode("latin-1"))
    spec = make_spec(path, {"phone": "Phone", "first_name": "Prénom"}, encoding="latin-1")
    assert read_headers(spec.source) == ["Phone", "Prénom"]
    assert scan_source(spec, KEY).member_count == 1


def test_not_utf8_names_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"Phone,Name\n+14155550123,Ann\n+14155550124,Zo\xeb\n")
    with pytest.raises(SourceError) as err:
        scan_source(make_spec(path), KEY)
    text = str(err.value)
    assert "bad.csv:3" in text and "utf-8" in text and "encoding" in text
    assert "Zo" not in text and "+1415" not in text  # no cell content in the message


def test_unknown_encoding(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [["Phone"]])
    with pytest.raises(SourceError, match="unknown encoding"):
        read_headers(make_spec(path, encoding="klingon").source)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "no header row"), (b"\n\n", "no header row"), (b" , \n1,2\n", "no header row")],
)
def test_empty_or_headerless(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message) as err:
        scan_source(make_spec(path), KEY)
    assert "e.csv:1" in str(err.value)


def test_legacy_spreadsheet_formats(tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0 binary")
    with pytest.raises(SourceError, match=r"save it as \.xlsx or CSV"):
        read_headers(make_spec(path).source)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="file not found") as err:
        scan_source(make_spec(tmp_path / "nope.csv"), KEY)
    assert "nope.csv" in str(err.value)
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    with pytest.raises(SourceError):
        read_headers(make_spec(folder).source)


def test_missing_mapped_header_lists_what_exists(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "h.csv", [["Mobile", "Email"], ["+14155550123", "a@example.com"]])
    with pytest.raises(SourceError) as err:
        scan_source(make_spec(path, {"phone": "Phone", "email": "Email"}), KEY)
    text = str(err.value)
    assert "h.csv:1" in text and "'Phone'" in text and "'Mobile'" in text


def test_nul_bytes_are_a_source_error_or_read(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"Phone\n+1415\x005550123\n")
    try:
        scan = scan_source(make_spec(path), KEY)
    except SourceError as err:
        assert "nul.csv" in str(err)
    else:
        assert scan.invalid == {"invalid_phone": 1}


@settings(max_examples=200)
@given(data=st.binary(max_size=400), header=st.booleans(), delimiter=st.sampled_from([None, ",", ";"]))
def test_fuzz_arbitrary_bytes_only_raise_source_error(
    tmp_path: Path, data: bytes, header: bool, delimiter: str | None
) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_bytes((b"Phone,Email\n" if header else b"") + data)
    spec = make_spec(path, {"phone": "Phone", "email": "Email"}, delimiter=delimiter)
    try:
        scan = scan_source(spec, KEY)
    except SourceError as err:
        assert "fuzz.csv" in str(err)
    else:
        assert scan.rows_read == scan.valid + scan.invalid_count
        assert scan.member_count + scan.duplicates == scan.valid


def test_row_numbers_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.sources import parallel

    monkeypatch.setattr(parallel, "CHUNK_ROWS", 7)
    lines = ["Phone"] + [f"+1415555{i:04d}" for i in range(40)]
    lines[30] = "bad"
    path = tmp_path / "blocks.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scan = scan_source(make_spec(path), KEY, workers=1)
    assert [(i.row, i.reason) for i in scan.issues] == [(31, "invalid_phone")]
    path.write_bytes(path.read_bytes().replace(b"bad", b"b\xffd"))
    with pytest.raises(SourceError) as err:
        scan_source(make_spec(path), KEY, workers=1)
    assert "blocks.csv:31" in str(err.value)
