"""Emulator upload benchmark: RSS growth and throughput while streaming a large CSV.

Starts `reconciler emulate` in a subprocess, uploads an N-MB CSV to CommBox (multipart POST) and to
Whop's presigned URL (raw PUT), and prints the emulator's peak RSS growth and the upload rate.

Reproduce:  python3 bench/emulator_upload.py --mb 100
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reconciler.emulator.whop import WHOP_API_VERSION_DATE  # noqa: E402


def rss_kb(pid: int, field: str) -> int:
    """VmRSS or VmHWM of a process, in kB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found")


def write_csv(path: Path, megabytes: int) -> int:
    """A CSV of about `megabytes` MB with a phone1/phone/email/notes header; returns its row count."""
    notes = "n" * 200
    rows = 0
    with path.open("w") as fh:
        fh.write("phone1,phone,email,notes\n")
        while fh.tell() < megabytes * 1024 * 1024:
            fh.write(f"1555{rows:07d},+1555{rows:07d},u{rows}@x.io,{notes}\n")
            rows += 1
    return rows


def start_emulator() -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "reconciler.emulator", "--port", "0", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    exports: dict[str, str] = {}
    while len(exports) < 7:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("emulator did not start")
        if line.startswith("export "):
            name, _, value = line[7:].strip().partition("=")
            exports[name] = value
    return proc, exports


def measure(megabytes: int) -> dict[str, float]:
    """Upload figures for one CSV size."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "members.csv"
        rows = write_csv(path, megabytes)
        size = path.stat().st_size
        proc, env = start_emulator()
        try:
            c = httpx.Client(timeout=600)
            commbox = {"Authorization": f"Bearer {env['COMMBOX_API_TOKEN']}"}
            c.get(env["COMMBOX_BASE_URL"] + "/audiences", headers=commbox)  # warm up
            base = rss_kb(proc.pid, "VmRSS")
            start = time.perf_counter()
            with path.open("rb") as fh:
                r = c.post(
                    env["COMMBOX_BASE_URL"] + "/audiences",
                    headers=commbox,
                    data={"name": "big"},
                    files={"audience_file": ("members.csv", fh, "text/csv")},
                )
            commbox_s = time.perf_counter() - start
            assert r.status_code == 201, r.text
            listed = c.get(env["COMMBOX_BASE_URL"] + "/audiences", headers=commbox).json()["data"]
            assert listed[0]["user_count"] == rows
            whop = {
                "Authorization": f"Bearer {env['WHOP_API_KEY']}",
                "Api-Version-Date": WHOP_API_VERSION_DATE,
            }
            record = c.post(env["WHOP_BASE_URL"] + "/files", headers=whop, json={"filename": "m.csv"}).json()
            start = time.perf_counter()
            with path.open("rb") as fh:
                put = c.put(record["upload_url"], headers=record["upload_headers"], content=fh)
            whop_s = time.perf_counter() - start
            assert put.status_code == 200, put.text
            peak = rss_kb(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(10)
    return {
        "mb": size / 2**20,
        "rows": rows,
        "rss_growth_mb": (peak - base) / 1024,
        "commbox_mb_s": size / 2**20 / commbox_s,
        "whop_put_mb_s": size / 2**20 / whop_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="CSV size in MB (default 100)")
    figures = measure(parser.parse_args().mb)
    print(f"upload size        {figures['mb']:.1f} MB ({figures['rows']:,} rows)")
    print(f"emulator RSS peak  +{figures['rss_growth_mb']:.1f} MB over idle")
    print(f"CommBox POST       {figures['commbox_mb_s']:.1f} MB/s (multipart parse + row count)")
    print(f"Whop presigned PUT {figures['whop_put_mb_s']:.1f} MB/s")
    print(f"reproduce: python3 bench/emulator_upload.py --mb {parser.parse_args().mb}")


if __name__ == "__main__":
    main()
