"""The example provider plugin (examples/provider-plugin/) installed for tests, without touching the
test environment: `pip install --no-deps --no-build-isolation --target DIR` (offline: nothing is
downloaded), then DIR goes on sys.path / PYTHONPATH. reconciler finds the plugin exactly as it
finds any installed one, through the `reconciler.providers` entry-point group.

Where the build tools cannot build a wheel (setuptools older than 70.1 without `wheel`), the same
`.dist-info/entry_points.txt` pip would write is written by hand (a test-only registration)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import metadata
from pathlib import Path

from reconciler.providers import registry

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "examples" / "provider-plugin"
NAME = "example"
DIST = "reconciler_example_provider-0.1.0"


def _can_build_wheels() -> bool:
    if importlib.util.find_spec("wheel") is not None:
        return True
    version = tuple(int(p) for p in metadata.version("setuptools").split(".")[:2] if p.isdigit())
    return version >= (70, 1)


@cache
def installed(target: Path) -> tuple[Path, str]:
    """Install the plugin into `target` (once); returns (target, how: "pip" or "dist-info")."""
    if target.exists():
        shutil.rmtree(target)
    if _can_build_wheels():
        source = target.with_name(target.name + "-src")  # setuptools builds in the tree: not in ours
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
             "--no-index", "--target", str(target), str(source)],
            check=True, capture_output=True, text=True, timeout=300,
        )
        return target, "pip"
    shutil.copytree(PLUGIN / "reconciler_example", target / "reconciler_example")
    info = target / f"{DIST}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: reconciler-example-provider\nVersion: 0.1.0\n", encoding="utf-8"
    )
    pyproject = (PLUGIN / "pyproject.toml").read_text(encoding="utf-8")
    group = pyproject.split('[project.entry-points."reconciler.providers"]', 1)[1].split("\n[", 1)[0]
    entries = [line for line in group.strip().splitlines() if "=" in line and not line.startswith("#")]
    (info / "entry_points.txt").write_text(
        "[reconciler.providers]\n" + "\n".join(e.replace('"', "") for e in entries) + "\n", encoding="utf-8"
    )
    return target, "dist-info"


@contextmanager
def registered(target: Path) -> Iterator[Path]:
    """The plugin installed in `target` and importable by this process (registry reloaded)."""
    path, _ = installed(target)
    sys.path.insert(0, str(path))
    registry.reset()
    try:
        yield path
    finally:
        sys.path.remove(str(path))
        for module in [m for m in sys.modules if m.split(".")[0] == "reconciler_example"]:
            del sys.modules[module]
        registry.reset()
