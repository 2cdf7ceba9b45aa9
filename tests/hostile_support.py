"""Run reconciler as a user would on a project with one source, and collect everything it writes.

Used by the hostile-input tests: `every_output` runs validate (text, json, --rejects) and plan
(text, markdown, json, --out, then show) in-process and returns all of stdout, stderr and the
files they wrote, with the exit code of each run.
"""

from __future__ import annotations

import io
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from hypothesis import strategies as st

from reconciler.cli import main

CONFIG = """version: 1
defaults:
  phone_region: US
providers:
  whop: {{account_id: biz_test}}
audiences:
  people:
    provider: whop
    name: People
    source: {source}
    columns: {columns}
"""
COLUMNS = "{phone: Phone, email: Email, first_name: First, country: Country}"
# digest-like text that is not member data: sha256 hex, UUIDs, ISO timestamps
_NOT_MEMBER_DATA = re.compile(
    r"[0-9a-f]{32,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d\d-\d\dT[\d:.]+"
)


def write_project(root: Path, source: str = "data/people.csv", columns: str = COLUMNS) -> Path:
    """audiences.yaml in `root` with one Whop audience reading `source`; returns the config path."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    config = root / "audiences.yaml"
    config.write_text(CONFIG.format(source=source, columns=columns), encoding="utf-8")
    return config


def run_cli(*argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one in-process run."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def every_output(config: Path) -> tuple[list[int], str]:
    """(exit codes, all text) of validate and plan in every format, their files, and show."""
    root = config.parent
    codes: list[int] = []
    texts: list[str] = []
    runs = [
        ["validate", "--rejects", str(root / "rejects.csv")],
        ["validate", "--format", "json"],
        ["plan", "--state", str(root / "state")],
        ["plan", "--state", str(root / "state"), "--format", "markdown"],
        ["plan", "--state", str(root / "state"), "--format", "json", "--out", str(root / "plan.json")],
    ]
    for argv in runs:
        code, out, err = run_cli(argv[0], "-c", str(config), *argv[1:])
        codes.append(code)
        texts += [out, err]
    for written in ("rejects.csv", "plan.json"):
        path = root / written
        if path.exists():
            texts.append(path.read_text(encoding="utf-8"))
            path.unlink()
    return codes, "\n".join(texts)


def without_digests(text: str) -> str:
    """`text` with sha256 digests, UUIDs and timestamps removed (their digits are not member data)."""
    return _NOT_MEMBER_DATA.sub("#", text)


ADDRESS = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")  # linear: starts where a run does
SEPARATORS = st.sampled_from(["", " ", "-", ".", "(", ")", "/", "+"])
local = st.from_regex(r"[a-z0-9._+-]{1,20}", fullmatch=True)
domain = st.from_regex(r"[a-z0-9-]{1,15}(\.[a-z0-9-]{1,10}){1,3}", fullmatch=True)
address = st.builds(lambda a, b: f"{a}@{b}", local, domain)
digit_run = st.from_regex(r"[0-9]{6,40}", fullmatch=True)
phone = st.builds(
    lambda parts, seps: "".join(p + s for p, s in zip(parts, seps, strict=False)),
    st.lists(st.from_regex(r"[0-9]{1,6}", fullmatch=True), min_size=1, max_size=8),
    st.lists(SEPARATORS, min_size=8, max_size=8),
)
huge_digits = st.builds(lambda d, n: d * n, st.sampled_from("0123456789"), st.integers(6, 1_000_000))
several = st.builds(
    lambda items, sep: sep.join(items), st.lists(st.one_of(address, phone), min_size=2, max_size=5),
    st.sampled_from(["; ", ",", " ", "\n", "\t", " and ", "\x1b[31m"]),
)
phone_in_email = st.builds(lambda d, b: f"{d}@{b}", digit_run, domain)
hostile = st.one_of(
    st.text(), address, phone, huge_digits, several, phone_in_email, digit_run,
    st.builds(lambda a, t, b: a + t + b, st.text(max_size=5), st.one_of(address, digit_run),
              st.text(max_size=5)),
)


def addresses(text: str) -> list[str]:
    """Every address in `text` (the regex runs only where there is an '@': it is slow on huge cells)."""
    return ADDRESS.findall(text) if "@" in text else []
