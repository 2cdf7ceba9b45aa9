"""load_declaration: typed result of good files, every mistake of bad files located and reported at once."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from reconciler.config.load import load_declaration
from reconciler.config.model import DEFAULT_MAX_SHRINK, DEFAULT_SHRINK_MIN_MEMBERS
from reconciler.errors import ConfigError, Problem

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "config"
BROKEN = FIXTURES / "broken" / "audiences.yaml"
EXPECT = re.compile(r"#\s*expect-(key|value):\s*(.+?)\s*$")


def write_project(tmp_path: Path, yaml_text: str, csv_text: str = "Mobile,Email,First\n") -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "m.csv").write_text(csv_text, encoding="utf-8")
    config = tmp_path / "audiences.yaml"
    config.write_text(yaml_text, encoding="utf-8")
    return config


MINIMAL = """\
version: 1
audiences:
  a:
    provider: commbox
    name: A
    source: data/m.csv
    columns: {phone: Mobile}
"""


def problems(config: Path, env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_declaration(config, env={} if env is None else env)
    return caught.value.problems


def expectations(path: Path) -> list[tuple[int, int, str]]:
    """(line, column, message part) from the fixture's `# expect-key:` / `# expect-value:` comments."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = EXPECT.search(line)
        if not match:
            continue
        code = line[: match.start()].rstrip()
        key_col = len(code) - len(code.lstrip()) + 1
        colon = code.index(":", key_col - 1)
        rest = code[colon + 1 :]
        value_col = colon + 2 + len(rest) - len(rest.lstrip())
        found.append((number, key_col if match.group(1) == "key" else value_col, match.group(2)))
    return found


def test_bundled_example_loads_into_the_model() -> None:
    config = ROOT / "audiences.yaml"
    declaration = load_declaration(config, env={})
    assert declaration.path == config.resolve()
    assert declaration.sha256 == hashlib.sha256(config.read_bytes()).hexdigest()
    assert declaration.version == 1
    assert {a.provider for a in declaration.audiences.values()} == {"commbox", "whop", "smallest"}
    assert declaration.providers["whop"]["account_id"] == "biz_example"
    for audience in declaration.audiences.values():
        assert audience.source.path.is_file()
        assert audience.source.path.is_relative_to(ROOT / "data")
        assert audience.location is not None and audience.location.file == str(config)


def test_fields_defaults_and_region_resolution(tmp_path: Path) -> None:
    config = write_project(
        tmp_path,
        """\
version: 1
defaults: {phone_region: gb}
providers: {whop: {base_url: "http://127.0.0.1:9"}}
audiences:
  a:
    provider: smallest
    name: A
    description: Callers
    source: data/m.csv
    columns: {phone: Mobile, identifier: First}
  b:
    provider: whop
    name: B
    source: ./data/../data/t.tsv
    phone_region: de
    delimiter: tab
    encoding: cp1252
    protect: true
    max_shrink: 1
    shrink_min_members: 0
    columns: {email: Email}
""",
    )
    (tmp_path / "data" / "t.tsv").write_text("Email\tName\n", encoding="cp1252")
    declaration = load_declaration(config, env={"WHOP_ACCOUNT_ID": " biz_env "})
    a, b = declaration.audiences["a"], declaration.audiences["b"]
    assert declaration.phone_region == "GB"
    assert (a.phone_region, b.phone_region) == ("GB", "DE")
    assert a.description == "Callers" and a.columns == {"phone": "Mobile", "identifier": "First"}
    defaults = (False, DEFAULT_MAX_SHRINK, DEFAULT_SHRINK_MIN_MEMBERS)
    assert (a.protect, a.max_shrink, a.shrink_min_members) == defaults
    assert (b.protect, b.max_shrink, b.shrink_min_members) == (True, 1.0, 0)
    assert isinstance(b.max_shrink, float)
    assert b.source.path == (tmp_path / "data" / "t.tsv").resolve()
    assert b.source.display == "./data/../data/t.tsv"
    assert (b.source.delimiter, b.source.encoding, a.source.delimiter, a.source.encoding) == (
        "\t",
        "cp1252",
        None,
        "utf-8-sig",
    )
    assert declaration.providers["whop"] == {"base_url": "http://127.0.0.1:9", "account_id": "biz_env"}
    assert b.location is not None and (b.location.line, b.location.col) == (11, 3)


def test_file_account_id_wins_over_the_environment(tmp_path: Path) -> None:
    config = write_project(tmp_path, MINIMAL + "providers: {whop: {account_id: biz_file}}\n")
    declaration = load_declaration(config, env={"WHOP_ACCOUNT_ID": "biz_env"})
    assert declaration.providers["whop"]["account_id"] == "biz_file"


def test_broken_fixture_reports_every_marked_mistake_at_its_line_and_column() -> None:
    expected = expectations(BROKEN)
    assert len(expected) >= 25  # the fixture covers every kind of mistake
    found = problems(BROKEN)
    assert all(p.file == str(BROKEN) for p in found)
    by_place = {(p.line, p.col): p.message for p in found}
    for line, col, part in expected:
        assert (line, col) in by_place, f"nothing reported at {line}:{col} (expected {part!r}); got {found}"
        assert part in by_place[(line, col)]
    assert len(found) == len(expected), "problems reported that the fixture does not mark"


def test_the_broken_fixture_is_reported_in_file_order_without_duplicates() -> None:
    found = problems(BROKEN)
    assert found == sorted(found, key=lambda p: (p.line, p.col))
    assert len(set(found)) == len(found)


def test_a_valid_audience_next_to_broken_ones_is_not_reported() -> None:
    reference_lines = range(10, 15)  # ok-reference in the fixture
    assert not [p for p in problems(BROKEN) if p.line in reference_lines]


@pytest.mark.parametrize(
    ("text", "line", "part"),
    [
        ("", 1, "must be a mapping"),
        ("- a\n- b\n", 1, "must be a mapping"),
        ("version: 1\n", 1, "missing 'audiences'"),
        ("version: 1\naudiences:\n", 2, "must be a mapping"),
        ("version: 1\naudiences: {a: []}\n", 2, "audience 'a' must be a mapping"),
        ("audiences: {}\n", 1, "missing 'version'"),
        ("version: '1'\naudiences: {}\n", 1, "must be 1"),
    ],
)
def test_structural_mistakes(tmp_path: Path, text: str, line: int, part: str) -> None:
    found = problems(write_project(tmp_path, text))
    assert any(p.line == line and part in p.message for p in found), found


def test_empty_audiences_is_a_valid_declaration(tmp_path: Path) -> None:
    declaration = load_declaration(write_project(tmp_path, "version: 1\naudiences: {}\n"), env={})
    assert declaration.audiences == {}


def test_whop_account_id_is_needed_only_when_whop_is_used(tmp_path: Path) -> None:
    load_declaration(write_project(tmp_path, MINIMAL), env={})  # commbox only: fine without it
    whop = MINIMAL.replace("provider: commbox", "provider: whop")
    found = problems(write_project(tmp_path, whop), env={"WHOP_ACCOUNT_ID": "  "})
    assert [(p.line, p.col) for p in found] == [(4, 15)]
    assert "WHOP_ACCOUNT_ID" in found[0].message
    assert load_declaration(tmp_path / "audiences.yaml", env={"WHOP_ACCOUNT_ID": "biz_1"})


def test_header_check_masks_headers_that_look_like_member_data(tmp_path: Path) -> None:
    config = write_project(tmp_path, MINIMAL, csv_text="+12025550123,jane.doe@example.com,Jane\n")
    [problem] = problems(config)
    assert "+12025550123" not in problem.message and "jane.doe@example.com" not in problem.message
    assert "lack a header row" in problem.message


def test_unreadable_source_is_a_located_problem(tmp_path: Path) -> None:
    config = write_project(tmp_path, MINIMAL.replace("m.csv", "book.xlsx"))
    (tmp_path / "data" / "book.xlsx").write_bytes(b"not a workbook")
    [problem] = problems(config)
    assert (problem.line, problem.col) == (6, 13) and "cannot be read" in problem.message


def test_source_directory_is_reported(tmp_path: Path) -> None:
    config = write_project(tmp_path, MINIMAL.replace("data/m.csv", "data/folder.csv"))
    (tmp_path / "data" / "folder.csv").mkdir()
    [problem] = problems(config)
    assert "is a directory" in problem.message


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_declaration(tmp_path / "nope.yaml", env={})
    with pytest.raises(ConfigError, match="is a directory"):
        load_declaration(tmp_path, env={})


def test_config_outside_the_working_directory_resolves_sources_next_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "data", project / "data")
    shutil.copy(ROOT / "audiences.yaml", project / "audiences.yaml")
    monkeypatch.chdir(tmp_path)
    declaration = load_declaration(Path("project/audiences.yaml"), env={})
    assert all(a.source.path.is_relative_to(project.resolve()) for a in declaration.audiences.values())


def test_a_mistake_is_reported_once_not_again_by_the_checks_that_depend_on_it(tmp_path: Path) -> None:
    whop = MINIMAL.replace("provider: commbox", "provider: whop") + "providers: {whop: {account_id: 5}}\n"
    found = problems(write_project(tmp_path, whop))
    assert [(p.line, p.col) for p in found] == [(8, 32)]
    assert "must be text" in found[0].message
