"""Benchmark the verification of a saved plan: what `reconciler apply PLANFILE` does before its
first provider call, on bench_plan.py's scenarios (state prepared as an apply leaves it).

  read+scan  read and check the plan file, load declaration and state, scan every source (apply
             did this before plans were verified: it needs the scans to upload members)
  verify     the added cost: stale check, re-derive the plan from the file's pinned inputs (diff,
             guards) and compare it with the file, checksum included

    python3 bench/bench_verify.py                    # 1,000 audiences x 100 members and 1 x 1,000,000
    python3 bench/bench_verify.py --audiences 100 --big-members 100000   # a quick try
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_plan import PROVIDERS, record_apply, write_config, write_source  # noqa: E402

from reconciler.planning.engine import (  # noqa: E402
    PlanOptions,
    check_plan_current,
    load_project,
    make_plan,
    options_of,
    plan_checksum_key,
)
from reconciler.planning.planfile import load_plan, save_plan  # noqa: E402
from reconciler.planning.verify import verify_saved_plan  # noqa: E402


def measure(label: str, config: Path, state_dir: Path, planfile: Path) -> None:
    project = load_project(config, state_dir)
    save_plan(make_plan(project, PlanOptions()), planfile, plan_checksum_key(project))
    start = time.perf_counter()
    plan, document = load_plan(planfile)
    project = load_project(config, state_dir, plan.inputs.targets or None)
    loaded = time.perf_counter()
    check_plan_current(plan, project)
    derived = make_plan(project, options_of(plan.inputs))
    verify_saved_plan(document, str(planfile), derived, plan_checksum_key(project))
    done = time.perf_counter()
    read, verify = loaded - start, done - loaded
    print(f"{label}: read+scan {read:.2f} s, verify {verify:.2f} s (+{verify / read:.0%}); "
          f"plan file {planfile.stat().st_size:,} bytes")


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--audiences", type=int, default=1000)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--big-members", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/verify")
    args = parser.parse_args()
    os.environ.pop("RECONCILER_FINGERPRINT_KEY", None)
    argv = " ".join(sys.argv)
    print(f"saved-plan verification benchmark on {os.cpu_count()} CPUs; reproduce: python3 {argv}")
    shutil.rmtree(args.out, ignore_errors=True)

    many, size = args.out / "many", args.members
    many.mkdir(parents=True)
    keys = {f"aud-{n:04d}": PROVIDERS[n % 3] for n in range(args.audiences)}
    config = write_config(many, keys)
    for n, key in enumerate(keys):
        write_source(many / "data" / f"{key}.csv", range(n * size, (n + 1) * size))
    record_apply(config, many / "state")
    for n, key in enumerate(keys):  # 1% of the audiences changed, as in bench_plan.py
        if n % 100 == 0:
            write_source(many / "data" / f"{key}.csv", range(n * size + 1, (n + 1) * size + 1))
    measure(f"{args.audiences:,} audiences x {size:,} members", config, many / "state", many / "plan.json")

    big, members = args.out / "big", args.big_members
    big.mkdir(parents=True)
    config = write_config(big, {"big": "commbox"})
    write_source(big / "data/big.csv", range(members))
    record_apply(config, big / "state")
    write_source(big / "data/big.csv", (i for i in range(members + members // 100) if i % 100))
    measure(f"1 audience x {members:,} members, ~1% churn", config, big / "state", big / "plan.json")


if __name__ == "__main__":
    main()
