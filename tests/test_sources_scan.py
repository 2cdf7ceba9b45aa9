"""scan_source / iter_members / fingerprint: validation, reasons, duplicates, digest properties."""

from __future__ import annotations

import hashlib
import hmac
import random
import resource
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sources_support import KEY, make_spec, write_csv

from reconciler.config.model import AudienceSpec, ProviderName
from reconciler.sources import Member, MemberSet, SourceScan, fingerprint, iter_members, parallel, scan_source

BOTH = {"phone": "Phone", "email": "Email", "first_name": "First", "country": "Country"}


def scan_rows(
    tmp_path: Path, rows: list[list[str]], columns: dict[str, str] = BOTH, name: str = "s.csv"
) -> tuple[SourceScan, AudienceSpec]:
    header = ["Phone", "Email", "First", "Country"]
    spec = make_spec(write_csv(tmp_path / name, [header, *rows]), columns)
    return scan_source(spec, KEY), spec


def test_reason_codes_and_row_numbers(tmp_path: Path) -> None:
    scan, _ = scan_rows(tmp_path, [
        ["+14155550123", "", "Ann", "US"],          # 2 valid by phone
        ["", "bob@example.com", "Bob", ""],          # 3 valid by email
        ["", "", "Cy", ""],                          # 4 missing_identity
        ["12", "dee@example.com", "Dee", ""],        # 5 invalid_phone (non-empty invalid rejects)
        ["4.41E+11", "", "Eve", ""],                 # 6 numeric_phone_cell
        ["447700900123.0", "", "Fay", ""],           # 7 numeric_phone_cell
        ["", "not-an-email", "Gus", ""],             # 8 invalid_email
        ["020 7946 0123", "", "Hal", "GB"],          # 9 valid with the row's country
        ["020 7946 0124", "", "Ida", "XX"],          # 10 invalid_country (no such region)
        ["+14155550125", "", "Jo", " gb "],          # 11 valid: the country is trimmed, upper-cased
        ["+14155550126", "", "Kim", "United States"],  # 12 invalid_country (not an ISO code)
    ])
    assert [(i.row, i.reason) for i in scan.issues] == [
        (4, "missing_identity"), (5, "invalid_phone"), (6, "numeric_phone_cell"),
        (7, "numeric_phone_cell"), (8, "invalid_email"), (10, "invalid_country"), (12, "invalid_country"),
    ]
    assert scan.invalid == {"invalid_country": 2, "invalid_email": 1, "invalid_phone": 1,
                            "missing_identity": 1, "numeric_phone_cell": 2}
    assert [i.masked for i in scan.issues if i.reason == "invalid_country"] == ["X***", "U***"]
    assert (scan.rows_read, scan.valid, scan.member_count) == (11, 4, 4)


def test_single_identity_reasons(tmp_path: Path) -> None:
    phone_only, _ = scan_rows(tmp_path, [["", "a@example.com", "", ""]], {"phone": "Phone"}, "p.csv")
    email_only, _ = scan_rows(tmp_path, [["+14155550123", "", "", ""]], {"email": "Email"}, "e.csv")
    assert [i.reason for i in phone_only.issues] == ["missing_phone"]
    assert [i.reason for i in email_only.issues] == ["missing_email"]


@pytest.mark.parametrize(("provider", "valid"), [("commbox", False), ("smallest", False), ("whop", True)])
def test_phone_only_providers_need_a_phone_even_when_email_is_mapped(
    tmp_path: Path, provider: ProviderName, valid: bool
) -> None:
    path = write_csv(tmp_path / "s.csv", [["Phone", "Email"], ["", "ann@example.com"], ["+14155550123", ""]])
    scan = scan_source(make_spec(path, {"phone": "Phone", "email": "Email"}, provider=provider), KEY)
    assert scan.member_count == (2 if valid else 1)
    assert [(i.row, i.reason) for i in scan.issues] == ([] if valid else [(2, "missing_phone")])


def test_issues_are_masked(tmp_path: Path) -> None:
    rows = [["+1 415 555 01", "", "", ""], ["", "secret.person@example.com x", "", ""]]
    scan, _ = scan_rows(tmp_path, rows)
    text = repr(scan.issues)
    assert "555 01" not in text and "secret.person" not in text
    assert scan.issues[0].masked == "+*********" and scan.issues[1].masked == "s***@e***"


def test_duplicates_first_wins_and_conflicts_counted(tmp_path: Path) -> None:
    scan, spec = scan_rows(tmp_path, [
        ["+14155550123", "ann@example.com", "Ann", "US"],
        ["(415) 555-0123", "ANN@example.com ", "Ann", "us"],   # same member, other formatting
        ["+1 415 555 0123", "ann@example.com", "Anne", "US"],  # same identity, other name
        ["", "ann@example.com", "Ann", ""],                     # identity by email: a different member
    ])
    assert (scan.valid, scan.duplicates, scan.conflicting_duplicates, scan.member_count) == (4, 2, 1, 2)
    members = list(iter_members(spec))
    assert [m.first_name for m in members] == ["Ann", "Ann"]
    assert [m.identity() for m in members] == ["phone:+14155550123", "email:ann@example.com"]
    assert scan.members.digest() == MemberSet.from_pairs(fingerprint(m, KEY) for m in members).digest()


def test_fingerprint_definition() -> None:
    member = Member(phone="+14155550123", email="a@example.com", first_name="Ann")
    ident, attrs = fingerprint(member, KEY)
    expected = int.from_bytes(hmac.digest(KEY, b"phone:+14155550123", "sha256")[:8], "big")
    assert ident == expected and 0 <= attrs < 2**32
    assert fingerprint(member, b"another key")[0] != ident
    # the encoding of attributes is unambiguous
    a = Member(phone="+14155550123", first_name="A,B", last_name=None)
    b = Member(phone="+14155550123", first_name="A", last_name="B")
    c = Member(phone="+14155550123", first_name="", last_name=None)
    assert len({fingerprint(m, KEY)[1] for m in (a, b, c, Member(phone="+14155550123"))}) == 4


@given(key=st.binary(min_size=1, max_size=200), email=st.emails())
@settings(deadline=None)  # st.emails() is slow to draw on a loaded machine
def test_identity_fingerprint_is_truncated_hmac(key: bytes, email: str) -> None:
    member = Member(email=email.lower())
    digest = hmac.digest(key, member.identity().encode(), "sha256")
    assert fingerprint(member, key)[0] == int.from_bytes(digest[:8], "big")


US_LINES = st.integers(0, 9999)
PERSON = st.tuples(US_LINES, st.sampled_from(["Ann", "Bob", "Cy", "Dee"]))


def _phone(line: int, style: int) -> str:
    styles = (f"+1415555{line:04d}", f"(415) 555-{line:04d}", f"+1 415-555-{line:04d}", f"415.555.{line:04d}")
    return styles[style]


def _digest(tmp_path: Path, rows: list[list[str]], name: str) -> str:
    spec = make_spec(write_csv(tmp_path / name, [["Phone", "Email", "First"], *rows]),
                     {"phone": "Phone", "email": "Email", "first_name": "First"})
    return scan_source(spec, KEY).members.digest()


@settings(max_examples=40)
@given(people=st.lists(PERSON, min_size=1, max_size=25, unique_by=lambda p: p[0]), seed=st.integers(0, 10**6))
def test_digest_ignores_order_formatting_and_email_case(
    tmp_path: Path, people: list[tuple[int, str]], seed: int
) -> None:
    rng = random.Random(seed)
    base = [[_phone(line, 0), f"{name}{line}@example.com".lower(), name] for line, name in people]
    variant = [[_phone(line, rng.randrange(4)), f"{name}{line}@EXAMPLE.com" if rng.random() < 0.5
                else f" {name.lower()}{line}@example.com ", name] for line, name in people]
    rng.shuffle(variant)
    assert _digest(tmp_path, base, "a.csv") == _digest(tmp_path, variant, "b.csv")


@settings(max_examples=40)
@given(
    people=st.lists(PERSON, min_size=2, max_size=25, unique_by=lambda p: p[0]),
    which=st.integers(0, 10**6),
    change=st.sampled_from(["drop", "rename", "email"]),
)
def test_digest_changes_with_membership_or_attributes(
    tmp_path: Path, people: list[tuple[int, str]], which: int, change: str
) -> None:
    rows = [[_phone(line, 0), f"p{line}@example.com", name] for line, name in people]
    before = _digest(tmp_path, rows, "a.csv")
    index = which % len(rows)
    if change == "drop":
        del rows[index]
    elif change == "rename":
        rows[index][2] += "x"
    else:
        rows[index][1] = "other" + rows[index][1]
    assert _digest(tmp_path, rows, "b.csv") != before


def test_parallel_scan_equals_inline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "INLINE_ROWS", 500)  # small sources run inline: make this one "big"
    monkeypatch.setattr(parallel, "CHUNK_ROWS", 97)
    rng = random.Random(3)
    rows = []
    for i in range(3_000):
        line = rng.randrange(3000)
        phone = _phone(line, rng.randrange(4)) if rng.random() > 0.01 else "+1 415 555 01"
        rows.append([phone, f"p{i}@example.com", rng.choice(["Ann", "Bob"]), "US"])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    scan_a, spec = scan_rows(tmp_path, rows)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert after.ru_utime + after.ru_stime > children.ru_utime + children.ru_stime  # a pool did work
    scan_b = scan_source(spec, KEY, workers=1)
    assert scan_source(spec, KEY, workers=2).members.digest() == scan_a.members.digest()
    assert scan_a.rows_read == scan_b.rows_read == len(rows)
    assert scan_a.members.to_bytes() == scan_b.members.to_bytes()
    assert scan_a.issues == scan_b.issues and scan_a.invalid == scan_b.invalid
    assert scan_a.duplicates == scan_b.duplicates
    assert scan_a.conflicting_duplicates == scan_b.conflicting_duplicates
    assert scan_a.duplicates > 0 and scan_a.conflicting_duplicates > 0
    members = list(iter_members(spec))
    assert len(members) == scan_a.member_count
    assert [m.identity() for m in members] == [m.identity() for m in iter_members(spec, workers=1)]


def test_scan_records_file_digest(tmp_path: Path) -> None:
    scan, spec = scan_rows(tmp_path, [["+14155550123", "", "", ""]])
    assert scan.sha256 == hashlib.sha256(spec.source.path.read_bytes()).hexdigest()
    assert (scan.audience, scan.source) == ("aud", "s.csv")


def test_pool_is_thread_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Called from a thread (as apply's executor may), the pool does not fork a threaded process."""
    import threading

    monkeypatch.setattr(parallel, "INLINE_ROWS", 10)
    monkeypatch.setattr(parallel, "CHUNK_ROWS", 10)
    rows = [[_phone(i, 0), "", "Ann", "US"] for i in range(60)]
    _, spec = scan_rows(tmp_path, rows)
    found: list[int] = []
    methods: list[str] = []

    def work() -> None:
        methods.append(parallel.start_method())
        found.append(len(list(iter_members(spec, workers=2))))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert found == [60] and methods[0] != "fork"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Ann.Lee+tag@Example.COM ", "ann.lee+tag@example.com"),
        ("jörg@bücher.de", "jörg@bücher.de"),
        ("x@xn--bcher-kva.de", "x@xn--bcher-kva.de"),
        ("o'brien@example.co.uk", "o'brien@example.co.uk"),
        ("no-at-sign.example.com", None),
        ("two@@example.com", None),
        ("dot.@example.com", None),
        ("a@example", None),
        ("a@-example.com", None),
        ("a b@example.com", None),
        ("a@example.c0m", None),
    ],
)
def test_email_normalisation(raw: str, expected: str | None) -> None:
    from reconciler.sources.normalise import normalise_email

    assert normalise_email(raw) == expected


def test_pool_ignores_inherited_signal_handlers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A SIGTERM handler of the calling process (the emulator installs one) must neither hang nor
    print worker tracebacks when the pool shuts down, whether it finished or was abandoned."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel, "INLINE_ROWS", 10)
    monkeypatch.setattr(parallel, "CHUNK_ROWS", 10)
    _, spec = scan_rows(tmp_path, [[_phone(i, 0), "", "Ann", "US"] for i in range(200)])
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        assert scan_source(spec, KEY, workers=2).member_count == 200
        members = iter_members(spec, workers=2)
        assert isinstance(members, Generator)
        assert next(members).phone == "+14155550000"
        members.close()  # abandoned early: the pool is terminated
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert "Traceback" not in capfd.readouterr().err
