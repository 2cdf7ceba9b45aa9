"""Saved plan files: the plan's JSON document on disk. Bad files end in a clean PlanError."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from reconciler.errors import PlanError, Problem
from reconciler.planning.plan import FORMAT_VERSION, Plan


def dumps(plan: Plan) -> str:
    """The plan's canonical JSON text (what `--format json` prints and `--out` saves)."""
    return json.dumps(plan.to_dict(), indent=2, sort_keys=True)


def save_plan(plan: Plan, path: Path) -> None:
    """Write the plan to `path` atomically (a reader never sees half a plan)."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise PlanError(f"cannot write the plan to {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(dumps(plan) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise PlanError(f"cannot write the plan to {target}: {exc.strerror}") from None


def read_plan_document(path: Path) -> dict[str, Any]:
    """The JSON document of a saved plan, checked to be a plan of a supported format version."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"{name}: no such plan file") from None
    except UnicodeDecodeError:
        raise PlanError(f"{name}: not a plan file (not UTF-8 text)") from None
    except OSError as exc:
        raise PlanError(f"{name}: cannot read the plan file: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(
            "not a plan file (invalid JSON)", problems=[Problem(name, exc.lineno, exc.colno, exc.msg)]
        ) from None
    if not isinstance(data, dict) or "changes" not in data or "format_version" not in data:
        raise PlanError(f"{name}: not a reconciler plan (no format_version/changes)")
    if data["format_version"] != FORMAT_VERSION:
        raise PlanError(
            f"{name}: plan format_version {data['format_version']!r} is not supported "
            f"(this reconciler reads {FORMAT_VERSION!r})"
        )
    return data


def load_plan(path: Path) -> Plan:
    """Load a saved plan; PlanError naming the file when it is missing, not JSON, or malformed."""
    data = read_plan_document(path)
    try:
        plan = Plan.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else "a field has a wrong type or value"
        raise PlanError(f"{path}: malformed plan ({detail})") from None
    return plan
