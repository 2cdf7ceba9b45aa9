"""The state: section, --lock-timeout durations, and the masking of a database URL's password
(property-tested: whatever the password, no spelling of it survives in a masked text)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.app import parse_duration
from reconciler.errors import ConfigError, UsageError
from reconciler.state import pgurl
from reconciler.state.settings import StateSettings, read_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "audiences.yaml"
    path.write_text(text)
    return path


def test_defaults_when_absent_missing_or_broken(tmp_path: Path) -> None:
    assert read_settings(tmp_path / "nope.yaml") == StateSettings()
    assert read_settings(write(tmp_path, "version: 1\naudiences: {}\n")) == StateSettings()
    assert read_settings(write(tmp_path, "version: [broken\n")) == StateSettings()


def test_the_section_is_read(tmp_path: Path) -> None:
    config = write(tmp_path, "version: 1\nstate:\n  backend: postgres\n  workspace: prod\n  url_env: DB\n")
    settings = read_settings(config)
    assert (settings.backend, settings.workspace, settings.url_env) == ("postgres", "prod", "DB")
    assert settings.origin == f"{config}:2"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("state: postgres", "must be a mapping"),
        ("state: {backend: mysql}", "one of local, postgres"),
        ("state: {workspace: 'a b'}", "state.workspace"),
        ("state: {url_env: 'A-B'}", "state.url_env"),
        ("state: {url: 'postgresql://x'}", "unknown key 'url'"),
        ("state: {path: ''}", "non-empty text"),
    ],
)
def test_a_wrong_section_names_file_and_line(tmp_path: Path, section: str, message: str) -> None:
    config = write(tmp_path, f"version: 1\n{section}\naudiences: {{}}\n")
    with pytest.raises(ConfigError) as raised:
        read_settings(config)
    assert message in str(raised.value) and f"{config}:2:1" in str(raised.value)


def test_a_broken_file_with_a_state_section_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_settings(write(tmp_path, "version: 1\nstate:\n  backend: [postgres\n"))


@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0), ("45", 45), ("30s", 30), ("5m", 300), ("1h", 3600), ("1m30s", 90),
                          ("500ms", 0.5), ("1.5m", 90)]
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5 minutes", "-1s", "1d", "s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError, match="is not a duration"):
        parse_duration(text)


PASSWORDS = st.text(
    st.characters(min_codepoint=33, max_codepoint=0x24F, blacklist_characters="'\\"), min_size=4
)


@given(password=PASSWORDS, around=st.text(max_size=20))
def test_no_spelling_of_the_password_survives_masking(password: str, around: str) -> None:
    url = f"postgresql://user:{quote(password, safe='')}@db.example.com:5432/app?sslmode=require"
    text = f"{around} connection to {url} failed for {password!s} ({quote(password, safe='')}) {around}"
    masked = pgurl.mask(text, url)
    assert password not in masked and quote(password, safe="") not in masked
    assert pgurl.MASK in masked


@given(password=PASSWORDS.filter(lambda p: not any(c.isspace() for c in p)))  # a bare keyword value
def test_keyword_and_parameter_passwords_are_masked(password: str) -> None:
    keyword = f"host=db port=5432 password={password} dbname=app"
    assert password not in pgurl.mask(f"bad: {keyword}", keyword)
    param = f"postgresql://user@db/app?password={quote(password, safe='')}"
    masked = pgurl.mask(f"{param} / {password}", param)
    assert password not in masked and quote(password, safe="") not in masked


def test_describe_names_host_and_database_only() -> None:
    url = "postgresql://bob:pw@db.example.com:6543/app?sslmode=require"
    assert pgurl.describe(url) == "db.example.com:6543/app"
    assert pgurl.redacted(url) == "postgresql://bob:***@db.example.com:6543/app?sslmode=require"
