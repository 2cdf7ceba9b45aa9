"""Time source ingestion on a large CSV next to a bare csv.reader pass over the same file.

Each measurement runs in a fresh interpreter (cold); its peak RSS comes from the kernel's
rusage for that child and its own children (the worker pool). Prints the figures, the ratio
and the command to reproduce them.

    python3 bench/gen_data.py --rows 1000000 --out /tmp/contacts_1m.csv
    python3 bench/bench_validate.py --file /tmp/contacts_1m.csv
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BARE = """
import csv, json, sys, time
start = time.perf_counter()
with open(sys.argv[1], encoding="utf-8", newline="") as handle:
    rows = sum(1 for _ in csv.reader(handle))
print(json.dumps({"seconds": time.perf_counter() - start, "rows": rows - 1}))
"""

SCAN = """
import json, sys, time
from pathlib import Path
from reconciler.config.model import AudienceSpec, SourceSpec
from reconciler.sources import scan_source
path = Path(sys.argv[1])
workers = int(sys.argv[2]) if sys.argv[2] != "auto" else None
columns = {f: f for f in ("phone", "email", "first_name", "last_name", "country")}
spec = AudienceSpec(key="bench", provider="whop", name="Bench", phone_region="US",
                    source=SourceSpec(path=path, display=path.name), columns=columns)
start = time.perf_counter()
scan = scan_source(spec, b"bench-key-0123456789abcdef012345", workers=workers)
print(json.dumps({"seconds": time.perf_counter() - start, "rows": scan.rows_read, "valid": scan.valid,
                  "invalid": scan.invalid, "duplicates": scan.duplicates,
                  "conflicting": scan.conflicting_duplicates, "members": scan.member_count}))
"""

CONFIG = """version: 1
defaults:
  phone_region: US
providers:
  whop: {{account_id: biz_bench}}
audiences:
  bench:
    provider: whop
    name: Bench
    source: {source}
    columns: {{phone: phone, email: email, first_name: first_name, last_name: last_name, country: country}}
"""


def run(argv: list[str], cwd: Path | None = None) -> tuple[float, float, int, str, float]:
    """(wall seconds, peak RSS MB of the child and its children, exit code, stdout, CPU seconds).

    Runs in `cwd` (default: this checkout), so `python -c`/`-m` import this checkout's package."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd or REPO)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        sys.stderr.write(err)
    return wall, usage.ru_maxrss / 1024, proc.returncode, out, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--file", type=Path, default=Path("/tmp/contacts_1m.csv"))
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to generate if --file is missing")
    parser.add_argument("--workers", default="auto")
    args = parser.parse_args()
    if not args.file.exists():
        subprocess.run([sys.executable, str(REPO / "bench" / "gen_data.py"), "--rows", str(args.rows),
                        "--out", str(args.file)], check=True)
    size = args.file.stat().st_size / 1e6
    print(f"file: {args.file} ({size:.1f} MB), cpus: {os.cpu_count()}, python {sys.version.split()[0]}, "
          f"load average before: {os.getloadavg()[0]:.2f}")

    wall, rss, _, out, _ = run([sys.executable, "-c", BARE, str(args.file)])
    bare = json.loads(out)
    print(f"bare csv.reader pass : {bare['seconds']:7.2f} s in-process, {wall:6.2f} s wall, "
          f"peak RSS {rss:6.1f} MB, {bare['rows']:,} rows")

    wall, rss, _, out, cpu = run([sys.executable, "-c", SCAN, str(args.file), args.workers])
    scan = json.loads(out)
    ratio = scan["seconds"] / bare["seconds"]
    print(f"scan_source          : {scan['seconds']:7.2f} s in-process, {wall:6.2f} s wall, "
          f"peak RSS {rss:6.1f} MB  ->  {ratio:.1f}x the bare pass")
    print(f"  CPU {cpu:.1f} s (reader + workers, {cpu / scan['rows'] * 1e6:.1f} us/row): "
          f"{cpu / (os.cpu_count() or 1):.1f} s of wall time if the CPUs were all ours")
    print(f"  rows {scan['rows']:,}, valid {scan['valid']:,}, invalid {scan['invalid']}, "
          f"duplicates {scan['duplicates']:,} ({scan['conflicting']:,} conflicting), "
          f"members {scan['members']:,}")

    if _cli_available():
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "audiences.yaml"
            config.write_text(CONFIG.format(source=json.dumps(str(args.file.resolve()))), encoding="utf-8")
            wall, rss, code, _, cpu = run(
                [sys.executable, "-m", "reconciler", "validate", "-c", str(config)], cwd=Path(tmp)
            )
            print(f"reconciler validate  : {wall:7.2f} s wall (interpreter start-up included), "
                  f"peak RSS {rss:6.1f} MB, exit {code}  ->  {wall / bare['seconds']:.1f}x the bare pass, "
                  f"CPU {cpu:.1f} s")
    else:
        print("reconciler validate  : not available yet (reconciler/commands/validate.py)")
    print(f"reproduce: python3 bench/gen_data.py --rows {scan['rows']:,} --out {args.file}".replace(",", "")
          + f" && python3 bench/bench_validate.py --file {args.file}")
    return 0


def _cli_available() -> bool:
    module = REPO / "reconciler" / "commands" / "validate.py"
    return module.exists() and "NotImplementedError" not in module.read_text(encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
