"""Time a query source against the same rows read from a CSV file.

The CSV of bench/gen_data.py is loaded into a PostgreSQL table (all columns text); then, each in a
fresh interpreter (cold), `scan_source` reads the CSV and the equivalent query source, and
`reconciler validate` runs on a declaration with the query source. Peak RSS comes from the kernel's
rusage of that child process and its own children (the worker pool); the PostgreSQL server is
not counted. Without --url a throwaway cluster is started (the test suite's tests/pg_support.py:
needs Debian's postgresql server programs).

    python3 bench/gen_data.py --rows 1000000 --out /tmp/contacts_1m.csv
    python3 bench/bench_query.py --file /tmp/contacts_1m.csv [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench_validate import REPO, run

COLUMNS = ("phone", "email", "first_name", "last_name", "country")
QUERY = "SELECT phone, email, first_name, last_name, country FROM contacts ORDER BY id"
TIME_LIMIT = 1.5  # query time / CSV time
RSS_LIMIT_MB = 300

SCAN = """
import json, sys, time
from pathlib import Path
from reconciler.config.model import AudienceSpec, QuerySpec, SourceSpec
from reconciler.sources import scan_source
kind, target = sys.argv[1], sys.argv[2]
columns = {f: f for f in ("phone", "email", "first_name", "last_name", "country")}
if kind == "csv":
    source = SourceSpec(path=Path(target), display=Path(target).name)
else:
    source = QuerySpec(query=target, url_env="BENCH_URL")
spec = AudienceSpec(key="bench", provider="whop", name="Bench", phone_region="US", source=source,
                    columns=columns)
start = time.perf_counter()
scan = scan_source(spec, b"bench-key-0123456789abcdef012345")
print(json.dumps({"seconds": time.perf_counter() - start, "rows": scan.rows_read, "valid": scan.valid,
                  "invalid": scan.invalid, "duplicates": scan.duplicates, "members": scan.member_count,
                  "digest": scan.members.digest()}))
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
    source:
      query: {query}
      url_env: BENCH_URL
    columns: {{phone: phone, email: email, first_name: first_name, last_name: last_name, country: country}}
"""


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    """The given URL, or a throwaway cluster's (stopped and removed on exit)."""
    if url:
        yield url
        return
    sys.path.insert(0, str(REPO / "tests"))
    from pg_support import running_cluster

    with running_cluster() as cluster:
        yield cluster.new_database()


def load(url: str, csv_path: Path) -> float:
    """(Re)create table `contacts` from the CSV with COPY; returns the seconds it took."""
    import time

    import psycopg

    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS contacts")
        conn.execute(
            f"CREATE TABLE contacts (id bigserial PRIMARY KEY, {', '.join(f'{c} text' for c in COLUMNS)})"
        )
        with conn.cursor() as cur, open(csv_path, "rb") as handle, cur.copy(
            f"COPY contacts ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv, HEADER true)"
        ) as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        conn.execute("VACUUM ANALYZE contacts")
    return time.perf_counter() - start


def run_scan(kind: str, target: str, url: str) -> tuple[dict[str, object], float, float, float]:
    """(scan figures, wall s, peak RSS MB, CPU s) of one cold scan (the URL goes in BENCH_URL)."""
    os.environ["BENCH_URL"] = url
    try:
        wall, rss, code, out, cpu = run([sys.executable, "-c", SCAN, kind, target])
    finally:
        del os.environ["BENCH_URL"]
    if code != 0:
        raise SystemExit(f"{kind} scan failed (exit {code})")
    return json.loads(out), wall, rss, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--file", type=Path, default=Path("/tmp/contacts_1m.csv"))
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to generate if --file is missing")
    parser.add_argument(
        "--url",
        default=os.environ.get("BENCH_URL"),
        help="PostgreSQL URL (default: BENCH_URL, else a throwaway cluster)",
    )
    args = parser.parse_args()
    if not args.file.exists():
        subprocess.run(
            [
                sys.executable,
                str(REPO / "bench" / "gen_data.py"),
                "--rows",
                str(args.rows),
                "--out",
                str(args.file),
            ],
            check=True,
        )
    print(
        f"file: {args.file} ({args.file.stat().st_size / 1e6:.1f} MB), cpus: {os.cpu_count()}, "
        f"python {sys.version.split()[0]}, load average before: {os.getloadavg()[0]:.2f}"
    )
    with database(args.url) as url:
        print(f"COPY into table contacts: {load(url, args.file):.1f} s")
        csv, csv_wall, csv_rss, csv_cpu = run_scan("csv", str(args.file), url)
        print(
            f"CSV scan_source      : {csv['seconds']:7.2f} s in-process, {csv_wall:6.2f} s wall, "
            f"peak RSS {csv_rss:6.1f} MB, CPU {csv_cpu:.1f} s"
        )
        query, q_wall, q_rss, q_cpu = run_scan("query", QUERY, url)
        ratio = float(query["seconds"]) / float(csv["seconds"])  # type: ignore[arg-type]
        print(
            f"query scan_source    : {query['seconds']:7.2f} s in-process, {q_wall:6.2f} s wall, "
            f"peak RSS {q_rss:6.1f} MB, CPU {q_cpu:.1f} s (client only)  ->  {ratio:.2f}x the CSV"
        )
        same = all(
            query[k] == csv[k] for k in ("rows", "valid", "invalid", "duplicates", "members", "digest")
        )
        print(
            f"  rows {query['rows']:,}, valid {query['valid']:,}, invalid {query['invalid']}, "
            f"duplicates {query['duplicates']:,}, members {query['members']:,}; "
            f"same members and counts as the CSV: {'yes' if same else 'NO'}"
        )
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "audiences.yaml"
            config.write_text(CONFIG.format(query=json.dumps(QUERY)), encoding="utf-8")
            os.environ["BENCH_URL"] = url
            try:
                argv = [sys.executable, "-m", "reconciler", "validate", "-c", str(config)]
                wall, rss, code, _, cpu = run(argv, cwd=Path(tmp))
            finally:
                del os.environ["BENCH_URL"]
            print(
                f"reconciler validate (query source): {wall:.2f} s wall (start-up included), peak RSS "
                f"{rss:.1f} MB, exit {code}, CPU {cpu:.1f} s"
            )
    verdict = ratio <= TIME_LIMIT and q_rss < RSS_LIMIT_MB and same
    print(
        f"targets: time <= {TIME_LIMIT}x the CSV ({ratio:.2f}x), "
        f"peak RSS < {RSS_LIMIT_MB} MB ({q_rss:.0f} MB): {'met' if verdict else 'NOT met'}"
    )
    print(
        f"reproduce: python3 bench/gen_data.py --rows {query['rows']} --out {args.file} && "
        f"python3 bench/bench_query.py --file {args.file}"
    )
    return 0 if verdict else 1


if __name__ == "__main__":
    raise SystemExit(main())
