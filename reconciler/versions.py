"""`reconciler --version [--json]`: what a bug report or a pinned CI run needs to know.

Light on purpose (no numpy, httpx or command module): phonenumbers, the plan and state modules.
The python-phonenumbers release number is the libphonenumber release whose metadata it carries,
so it doubles as the metadata version.
"""

from __future__ import annotations

import json
import platform
from typing import Any

import phonenumbers

from reconciler import __version__, phones
from reconciler.planning.plan import FORMAT_VERSION
from reconciler.state.data import STATE_FORMAT_VERSION


def version_info() -> dict[str, Any]:
    """Versions of reconciler, Python, phonenumbers (and its metadata), and the file formats."""
    return {
        "reconciler": __version__,
        "python": platform.python_version(),
        "phonenumbers": phonenumbers.__version__,
        "phonenumbers_metadata": phonenumbers.__version__,
        "plan_format_version": FORMAT_VERSION,
        "state_format_version": STATE_FORMAT_VERSION,
        "phone_fast_path": phones.FAST_PATH_PROBLEM is None,
        "phone_fast_path_problem": phones.FAST_PATH_PROBLEM,
    }


def render(as_json: bool) -> str:
    """The `--version` output: JSON, or a first line `reconciler X` and details."""
    info = version_info()
    if as_json:
        return json.dumps(info, indent=2)
    return (
        f"reconciler {info['reconciler']}\n"
        f"Python {info['python']}, phonenumbers {info['phonenumbers']} "
        f"(metadata {info['phonenumbers_metadata']})\n"
        f"plan format {info['plan_format_version']}, state format {info['state_format_version']}\n"
        f"{phones.fast_path_status()}"
    )
