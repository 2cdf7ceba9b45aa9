"""Benchmark: save and load the state of one large audience (default 1,000,000 members).

Reproduce:  python3 bench/bench_state.py [--members N] [--repeat R]
Prints the on-disk size per member and the best-of-R time of save(), load() and load()+members().
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

from reconciler.sources.members import MemberSet
from reconciler.state.store import AudienceState, State, StateStore


def best_of(repeat: int, action: Callable[[], object]) -> float:
    """The fastest of `repeat` runs of `action`, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(1)
    ids = np.unique(rng.integers(0, 2**64 - 1, args.members, dtype=np.uint64))
    members = MemberSet(ids, rng.integers(0, 2**32 - 1, len(ids), dtype=np.uint32))
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(Path(tmp) / "state")
        state = State(audiences={"big": AudienceState("big", "smallest", "1", "Big")})

        def save() -> None:
            state.audiences["big"].member_digest = ""  # force the member file to be written again
            for path in (store.directory / "members").glob("*.fp"):
                path.unlink()
            store.save(state, {"big": members})

        save_s = best_of(args.repeat, save)
        load_s = best_of(args.repeat, store.load)
        full_s = best_of(args.repeat, lambda: store.members(store.load().audiences["big"]))
        size = sum(p.stat().st_size for p in (store.directory / "members").iterdir())

    print(f"members:               {len(members):,}")
    print(f"member file:           {size:,} bytes ({size / len(members):.1f} bytes a member)")
    print(f"save (members+json):   {save_s * 1000:.1f} ms")
    print(f"load() alone:          {load_s * 1000:.1f} ms")
    print(f"load() + members():    {full_s * 1000:.1f} ms  (best of {args.repeat})")
    print(f"reproduce: python3 bench/bench_state.py --members {args.members} --repeat {args.repeat}")


if __name__ == "__main__":
    main()
