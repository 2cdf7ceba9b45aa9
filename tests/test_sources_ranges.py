"""Workers reading their own byte spans of a large CSV give exactly the streaming reader's results."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sources_support import KEY, make_spec

from reconciler.errors import SourceError
from reconciler.sources import iter_members, scan, scan_source
from reconciler.sources.ranges import file_facts, plan_ranges, read_span

COLUMNS = {"phone": "Phone", "email": "Email", "first_name": "First", "country": "Country"}


@pytest.fixture
def small_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any file of a few KB is read by spans of ~300 bytes, on two workers."""
    monkeypatch.setattr(scan, "RANGE_MIN_BYTES", 1_000)
    monkeypatch.setattr(scan, "RANGE_BYTES", 300)


def _lines(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        kind = rng.random()
        if kind < 0.05:
            lines.append("")  # blank record: counted in row numbers, not in rows read
        elif kind < 0.1:
            lines.append(f"12{n},,Bad{n},US")  # invalid phone
        elif kind < 0.15:
            lines.append(f",not-an-email-{n},X,")  # invalid e-mail
        elif kind < 0.25:
            lines.append(f"(415) 555-{rng.randrange(50):04d},,Dup{n},US")  # duplicates, some conflicting
        else:
            lines.append(f"+1 415 555 {n % 10_000:04d},m{n}@example.com,Name{n},US")
    return lines


def _write(path: Path, lines: list[str], newline: str = "\n", encoding: str = "utf-8") -> Path:
    path.write_bytes(newline.join(["Phone,Email,First,Country", *lines]).encode(encoding))
    return path


def _same_scans(path: Path, **spec_args: str) -> None:
    spec = make_spec(path, COLUMNS, **spec_args)  # type: ignore[arg-type]
    by_spans, streamed = scan_source(spec, KEY, workers=2), scan_source(spec, KEY, workers=1)
    assert by_spans.issues == streamed.issues
    assert (by_spans.rows_read, by_spans.valid, by_spans.invalid, by_spans.duplicates,
            by_spans.conflicting_duplicates, by_spans.sha256) == (
        streamed.rows_read, streamed.valid, streamed.invalid, streamed.duplicates,
        streamed.conflicting_duplicates, streamed.sha256)
    assert by_spans.members.to_bytes() == streamed.members.to_bytes()
    assert list(iter_members(spec, workers=2)) == list(iter_members(spec, workers=1))


@pytest.mark.usefixtures("small_spans")
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_spans_match_the_streaming_reader(tmp_path: Path, newline: str) -> None:
    path = _write(tmp_path / "s.csv", _lines(400, 1), newline)
    assert plan_ranges(str(path), "utf-8", ",", 300) is not None
    _same_scans(path)


@pytest.mark.usefixtures("small_spans")
def test_spans_with_a_bom_a_trailing_newline_and_latin1(tmp_path: Path) -> None:
    lines = [*_lines(200, 2), ""]
    # a BOM opening the file, and a U+FEFF opening a record of a later span (kept, as streamed)
    bom = _write(tmp_path / "bom.csv", [*lines[:150], "\ufeffx,,,", *lines[150:]], encoding="utf-8-sig")
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf")
    _same_scans(bom, encoding="utf-8-sig")
    latin = [line.replace("Name", "Zoë") for line in lines]
    _same_scans(_write(tmp_path / "latin.csv", latin, encoding="latin-1"), encoding="latin-1")


@pytest.mark.usefixtures("small_spans")
def test_quotes_and_lone_carriage_returns_use_the_streaming_reader(tmp_path: Path) -> None:
    lines = _lines(200, 3)
    lines[50] = '"+1 415 555 0001","a@example.com","Multi\nline",US'
    quoted = _write(tmp_path / "q.csv", lines)
    assert not file_facts(str(quoted))[1]
    _same_scans(quoted)
    lone_cr = _write(tmp_path / "cr.csv", _lines(200, 4), "\r")
    assert not file_facts(str(lone_cr))[1]
    _same_scans(lone_cr)


@pytest.mark.usefixtures("small_spans")
def test_a_bad_byte_in_a_span_is_reported_as_the_streaming_reader_does(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.csv", _lines(300, 5))
    data = bytearray(path.read_bytes())
    at = data.index(b"\n", len(data) // 2) + 1
    data[at:at] = b"\xff\xfe"
    path.write_bytes(bytes(data))
    row = data[:at].count(b"\n") + 1
    errors = []
    for workers in (2, 1):
        with pytest.raises(SourceError) as caught:
            scan_source(make_spec(path, COLUMNS), KEY, workers=workers)
        errors.append((str(caught.value), [(p.line, p.message) for p in caught.value.problems]))
        with pytest.raises(SourceError):
            list(iter_members(make_spec(path, COLUMNS), workers=workers))
    assert errors[0] == errors[1] and errors[0][1][0][0] == row


@given(
    text=st.text(alphabet="ab,\n\r\"é", max_size=200),
    span=st.integers(1, 50),
)
@settings(max_examples=300, deadline=None)
def test_spans_cover_the_records_after_the_header(tmp_path_factory: pytest.TempPathFactory,
                                                  text: str, span: int) -> None:
    path = tmp_path_factory.mktemp("r") / "f.csv"
    path.write_bytes(("h1,h2\n" + text).encode())
    _, simple = file_facts(str(path))
    assert simple == ('"' not in text and text.count("\r") == text.count("\r\n"))
    plan = plan_ranges(str(path), "utf-8", ",", span)
    if not simple or plan is None:
        return
    assert plan.spans[0][0] == len(b"h1,h2\n") and plan.spans[-1][1] == path.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(plan.spans, plan.spans[1:], strict=False))
    import csv
    import io

    expected = list(csv.reader(io.StringIO(text, newline=""), strict=False))
    spans = [read_span(plan, s) for s in plan.spans]
    if all(len(record) == 2 or not any(record) for record in expected):
        assert [record for records in spans for record in (records or [])] == expected
        assert None not in spans
    else:  # a record with another number of fields than the header: the streaming reader words it
        assert None in spans
