"""Benchmark: save and load the state of one large audience (default 1,000,000 members), on the
local backend and on the postgres backend.

Reproduce:  python3 bench/bench_state.py [--members N] [--repeat R] [--backend local|postgres|both]
Prints the stored size per member and the best-of-R time of save(), load() and load()+members()
for each backend, and postgres' load+save against local's (target: within 3x). The postgres server
is the one in RECONCILER_BENCH_PG_URL, else a throwaway cluster (tests/pg_support.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reconciler.sources.members import MemberSet
from reconciler.state.backend import StateBackend
from reconciler.state.store import AudienceState, State, StateStore


def best_of(repeat: int, action: Callable[[], object]) -> float:
    """The fastest of `repeat` runs of `action`, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(
    store: StateBackend, members: MemberSet, repeat: int, forget: Callable[[], None]
) -> dict[str, float]:
    """Best-of-`repeat` seconds of save (members written anew), load, and load + members."""
    state = State(audiences={"big": AudienceState("big", "smallest", "1", "Big")})

    def save() -> None:
        state.audiences["big"].member_digest = ""  # force the member set to be written again
        forget()
        store.save(state, {"big": members})

    return {
        "save": best_of(repeat, save),
        "load": best_of(repeat, store.load),
        "full": best_of(repeat, lambda: store.members(store.load().audiences["big"])),
    }


def report(name: str, members: int, size: int, times: dict[str, float], repeat: int) -> None:
    print(f"{name}:")
    print(f"  stored member set:     {size:,} bytes ({size / members:.1f} bytes a member)")
    print(f"  save (members+json):   {times['save'] * 1000:.1f} ms")
    print(f"  load() alone:          {times['load'] * 1000:.1f} ms")
    print(f"  load() + members():    {times['full'] * 1000:.1f} ms  (best of {repeat})")


def bench_local(members: MemberSet, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(Path(tmp) / "state")

        def forget() -> None:
            for path in (store.directory / "members").glob("*.fp"):
                path.unlink()

        times = measure(store, members, repeat, forget)
        size = sum(p.stat().st_size for p in (store.directory / "members").iterdir())
    report("local (a directory)", len(members), size, times, repeat)
    return times


def bench_postgres(members: MemberSet, repeat: int) -> dict[str, float]:
    from pg_bench_support import database

    from reconciler.state.pg import PostgresStore

    with database() as (url, origin):
        store = PostgresStore(url, "bench")
        conn = store._db()

        def forget() -> None:
            conn.execute("DELETE FROM reconciler_members")
            conn.execute("DELETE FROM reconciler_history")

        try:
            times = measure(store, members, repeat, forget)
            size = conn.execute("SELECT sum(pg_column_size(data)) FROM reconciler_members").fetchone()[0]
        finally:
            store.close()
    report(f"postgres ({origin})", len(members), int(size), times, repeat)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", choices=("local", "postgres", "both"), default="both")
    args = parser.parse_args()

    rng = np.random.default_rng(1)
    ids = np.unique(rng.integers(0, 2**64 - 1, args.members, dtype=np.uint64))
    members = MemberSet(ids, rng.integers(0, 2**32 - 1, len(ids), dtype=np.uint32))
    print(f"members:               {len(members):,}")
    results = {}
    if args.backend in ("local", "both"):
        results["local"] = bench_local(members, args.repeat)
    if args.backend in ("postgres", "both"):
        results["postgres"] = bench_postgres(members, args.repeat)
    if len(results) == 2:
        local = results["local"]["save"] + results["local"]["full"]
        pg = results["postgres"]["save"] + results["postgres"]["full"]
        verdict = "meets" if pg <= 3 * local else "MISSES"
        print(
            f"load+save: local {local * 1000:.0f} ms, postgres {pg * 1000:.0f} ms = {pg / local:.2f}x local "
            f"({verdict} the target of 3x)"
        )
    print(
        f"reproduce: python3 bench/bench_state.py --members {args.members} --repeat {args.repeat} "
        f"--backend {args.backend}"
    )


if __name__ == "__main__":
    main()
