"""Phone normalisation throughput: the fast path vs the public-API fallback, on the same rows.

The fallback is what runs when a phonenumbers release renames a private helper the fast path
needs; it is turned on here the same way tests/test_sources_phones.py does (phonenumberutil as
reconciler sees it, without `_test_number_length`). Rows are the phone/country cells of a
bench/gen_data.py file (generated to a temp file when --file is not given). Single process,
in-process timing, best of --repeat; both paths must give identical results.

    python3 bench/bench_phones.py --rows 200000
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import phonenumbers  # noqa: E402

from reconciler import phones  # noqa: E402


def read_cells(path: Path) -> list[tuple[str, str | None]]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return [(row["phone"], phones.region_for(row["country"], "US")) for row in reader]


def run(cells: list[tuple[str, str | None]], repeat: int) -> tuple[float, list[str | None]]:
    best, results = float("inf"), []
    for _ in range(repeat):
        start = time.perf_counter()
        results = [phones.normalise_phone(raw, region) for raw, region in cells]
        best = min(best, time.perf_counter() - start)
    return best, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--file", type=Path, help="a bench/gen_data.py CSV (default: generate one)")
    parser.add_argument("--rows", type=int, default=200_000, help="rows to generate without --file")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            from gen_data import generate

            path = Path(tmp) / "contacts.csv"
            generate(args.rows, path)
        cells = read_cells(path)
    assert phones.check_fast_path() is None, phones.FAST_PATH_PROBLEM
    fast_s, fast = run(cells, args.repeat)
    real = phones.phonenumberutil
    stripped = types.ModuleType(real.__name__)
    stripped.__dict__.update({k: v for k, v in vars(real).items() if k != "_test_number_length"})
    phones.phonenumberutil = stripped
    try:
        assert phones.check_fast_path() is not None
        slow_s, slow = run(cells, args.repeat)
    finally:
        phones.phonenumberutil = real
        phones.check_fast_path()
    assert fast == slow, "the fast path and the fallback disagree"
    n = len(cells)
    valid = sum(r is not None for r in fast)
    version = phonenumbers.__version__
    print(f"{n:,} phone cells ({valid:,} valid), phonenumbers {version}, best of {args.repeat}")
    print(f"  fast path: {fast_s:6.2f} s  {n / fast_s:>10,.0f} rows/s")
    print(f"  fallback:  {slow_s:6.2f} s  {n / slow_s:>10,.0f} rows/s  (public API only)")
    print(f"  fast path is {slow_s / fast_s:.1f}x the fallback; results identical")
    print(f"  command: python3 bench/bench_phones.py {' '.join(sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
