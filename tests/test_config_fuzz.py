"""Fuzz: whatever a user writes into audiences.yaml, load_declaration returns or raises ConfigError."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.config.load import load_declaration
from reconciler.config.model import Declaration
from reconciler.errors import ConfigError

# Words of the declaration's own vocabulary, so generated documents get deep into the checks.
WORDS = [
    "version", "defaults", "providers", "audiences", "phone_region", "commbox", "whop", "smallest",
    "account_id", "base_url", "provider", "name", "source", "columns", "description", "delimiter",
    "encoding", "sheet", "protect", "max_shrink", "shrink_min_members", "phone", "email", "first_name",
    "last_name", "country", "identifier", "data/m.csv", "data/m.xlsx", "m.csv", "Mobile", "Email",
    "US", "GB", "XX", "utf-8", ";", "tab", "vip", "a.b-c_d", "<<",
]
_scalars = st.one_of(
    st.sampled_from(WORDS),
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
_trees = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=6), inner, max_size=5),
    max_leaves=30,
)
_documents = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 2, "1", None])},
    optional={
        "defaults": _trees,
        "providers": _trees,
        "audiences": st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=6), _trees, max_size=3),
        "extra": _trees,
    },
)


def _project() -> Path:
    root = Path(tempfile.mkdtemp(prefix="reconciler-fuzz-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "data").mkdir()
    (root / "data" / "m.csv").write_text("Mobile,Email\n+12025550123,a@example.com\n", encoding="utf-8")
    (root / "data" / "m.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    return root / "audiences.yaml"


CONFIG = _project()


def _load(data: bytes) -> Declaration | None:
    CONFIG.write_bytes(data)
    try:
        return load_declaration(CONFIG, env={})
    except ConfigError as exc:
        assert str(exc)  # renders
        for problem in exc.problems:
            assert problem.file == str(CONFIG) and problem.line >= 1 and problem.col >= 1
        return None


@settings(max_examples=300)
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    _load(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    _load(data)


@settings(max_examples=100)
@given(_documents)
def test_documents_shaped_like_declarations(document: dict[str, object]) -> None:
    _load(yaml.safe_dump(document, allow_unicode=True).encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(
    provider=st.sampled_from(["commbox", "whop", "smallest", "other"]),
    columns=st.dictionaries(
        st.sampled_from(["phone", "email", "identifier", "first_name", "nope"]),
        st.sampled_from(["Mobile", "Email", "Missing", ""]),
        max_size=3,
    ),
    options=st.dictionaries(
        st.sampled_from(["phone_region", "delimiter", "encoding", "sheet", "max_shrink", "protect"]),
        st.sampled_from(["US", "ZZ", ",", ";", "utf-8", "bogus", 0.5, 7, True, None]),
        max_size=3,
    ),
)
def test_near_valid_audiences(provider: str, columns: dict[str, str], options: dict[str, object]) -> None:
    audience = {"provider": provider, "name": "N", "source": "data/m.csv", "columns": columns, **options}
    document = {"version": 1, "audiences": {"a": audience}}
    result = _load(yaml.safe_dump(document).encode("utf-8"))
    if result is not None:  # when it loads, what loaded is what was written
        spec = result.audiences["a"]
        assert spec.provider == provider and spec.columns == columns
