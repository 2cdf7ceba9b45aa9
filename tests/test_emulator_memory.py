"""Uploads stream through the emulator to disk: a 48 MB body must not grow its RSS by 48 MB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from reconciler.emulator.whop import WHOP_API_VERSION_DATE

REPO = Path(__file__).resolve().parents[1]
SIZE_MB = 48


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_large_uploads_do_not_grow_rss(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    notes = "n" * 4000  # long rows keep the row count (and the parse time) small
    rows = 0
    with path.open("w") as fh:
        fh.write("phone1,email,notes\n")
        while fh.tell() < SIZE_MB * 1024 * 1024:
            fh.write(f"1555{rows:07d},u{rows}@x.io,{notes}\n")
            rows += 1
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler.emulator", "--port", "0", "--quiet"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        exports = {}
        while len(exports) < 7:
            line = proc.stdout.readline()
            assert line, "emulator did not start"
            if line.startswith("export "):
                name, _, value = line[7:].strip().partition("=")
                exports[name] = value
        with httpx.Client(timeout=120) as c:
            commbox = {"Authorization": f"Bearer {exports['COMMBOX_API_TOKEN']}"}
            c.get(exports["COMMBOX_BASE_URL"] + "/audiences", headers=commbox)
            idle = rss_kb(proc.pid, "VmRSS")
            with path.open("rb") as fh:
                r = c.post(
                    exports["COMMBOX_BASE_URL"] + "/audiences",
                    headers=commbox,
                    data={"name": "big"},
                    files={"audience_file": ("big.csv", fh, "text/csv")},
                )
            assert r.status_code == 201
            listed = c.get(exports["COMMBOX_BASE_URL"] + "/audiences", headers=commbox).json()["data"]
            assert listed[0]["user_count"] == rows
            whop = {
                "Authorization": f"Bearer {exports['WHOP_API_KEY']}",
                "Api-Version-Date": WHOP_API_VERSION_DATE,
            }
            record = c.post(
                exports["WHOP_BASE_URL"] + "/files", headers=whop, json={"filename": "big.csv"}
            ).json()
            with path.open("rb") as fh:
                assert (
                    c.put(record["upload_url"], headers=record["upload_headers"], content=fh).status_code
                    == 200
                )
            growth_mb = (rss_kb(proc.pid, "VmHWM") - idle) / 1024
        assert growth_mb < SIZE_MB / 4, f"RSS grew {growth_mb:.1f} MB for a {SIZE_MB} MB upload"
    finally:
        proc.terminate()
        proc.wait(10)
