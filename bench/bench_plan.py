"""Benchmark `reconciler plan`: wall time and peak memory of the real command, in a subprocess.

Scenarios (state prepared first, as an apply would leave it; only the plan is timed):
  many  1,000 audiences x 100 members, 1% of the audiences changed since the apply
  big   one audience of 1,000,000 members with 1% churn (1% removed, 1% added)

    python3 bench/bench_plan.py                     # both, full size (targets: <= 3 s, <= 20 s)
    python3 bench/bench_plan.py --audiences 100 --big-members 100000   # a quick try

Phones are fictional (+1 NPA 555-XXXX); files go under bench/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.config.load import load_declaration  # noqa: E402
from reconciler.planning.diff import applied_entry, provider_settings  # noqa: E402
from reconciler.planning.engine import PlanOptions, Project, load_project, make_plan, scan_sources  # noqa: E402
from reconciler.render import render_text  # noqa: E402
from reconciler.state.store import StateStore  # noqa: E402

AREA_CODES = (201, 202, 203, 205, 206, 207, 208, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225,
              228, 229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276,
              281, 301, 302, 303, 304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319,
              320, 321, 323, 325, 330, 331, 334, 336, 337, 339, 347, 351, 352, 360, 361, 386, 401, 402,
              404, 405, 406, 407, 408, 409, 410, 412, 413, 414, 415, 417, 419, 423, 424, 425, 430, 432,
              434, 435, 440, 443, 469, 478, 479, 480, 484, 501, 502, 503, 504, 505, 507, 508, 509, 510,
              512, 513, 515, 516, 517, 518, 520, 530, 540, 541, 551, 559, 561, 562, 563, 567, 570, 571)
PROVIDERS = ("commbox", "smallest", "whop")


def phone(i: int) -> str:
    """The i-th fictional phone number (+1 NPA 555 XXXX), i < 10,000 x len(AREA_CODES)."""
    return f"+1{AREA_CODES[i // 10_000]}555{i % 10_000:04d}"


def write_source(path: Path, members: Iterable[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        out.write("Phone,First\n")
        out.writelines(f"{phone(i)},Name{i % 97}\n" for i in members)


def write_config(root: Path, audiences: dict[str, str]) -> Path:
    """audiences.yaml for {key: provider}, each reading data/<key>.csv."""
    lines = ["version: 1", "defaults: {phone_region: US}", "providers:", "  whop: {account_id: biz_bench}",
             "audiences:"]
    for key, provider in audiences.items():
        lines += [f"  {key}:", f"    provider: {provider}", f"    name: Bench {key}",
                  f"    source: data/{key}.csv", "    columns: {phone: Phone, first_name: First}"]
    config = root / "audiences.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def record_apply(config: Path, state_dir: Path) -> None:
    """Save the state a successful apply of the project leaves (as the executor records it)."""
    project = load_project(config, state_dir)
    state, sets = project.state, {}
    for key, scan in project.scans.items():
        spec = project.declaration.audiences[key]
        settings = provider_settings(project.declaration, spec.provider)
        state.audiences[key] = applied_entry(
            spec, settings, f"bench-{key}", scan.members, source_sha256=scan.sha256
        )
        sets[key] = scan.members
    project.store.save(state, sets)


def breakdown(config: Path, state_dir: Path) -> str:
    """In-process split of the same plan (seconds): declaration, state, source scans, diff+guards,
    text rendering."""
    marks = [time.perf_counter()]
    declaration = load_declaration(config)
    marks.append(time.perf_counter())
    store = StateStore(state_dir)
    state = store.load()
    key = store.fingerprint_key(state)
    marks.append(time.perf_counter())
    scans = scan_sources(list(declaration.audiences.values()), key)
    marks.append(time.perf_counter())
    plan = make_plan(Project(declaration, store, state, key, scans, str(config)), PlanOptions())
    marks.append(time.perf_counter())
    render_text(plan.to_dict())
    marks.append(time.perf_counter())
    names = ("declaration", "state", "scan", "diff+guards", "render")
    return ", ".join(f"{name} {b - a:.2f} s" for name, a, b in zip(names, marks, marks[1:], strict=False))


def timed_plan(config: Path, state_dir: Path) -> tuple[list[str], float, float, int]:
    """Run `reconciler plan` in a subprocess: (command, seconds, peak RSS MiB, exit code)."""
    command = [sys.executable, "-m", "reconciler", "plan", "-c", str(config), "--state", str(state_dir)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 2, 3):
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"plan failed ({proc.returncode}): {err}")
    return command, seconds, usage.ru_maxrss / 1024, proc.returncode


def bench_many(root: Path, audiences: int, members: int) -> None:
    keys = {f"aud-{n:04d}": PROVIDERS[n % 3] for n in range(audiences)}
    config = write_config(root, keys)
    for n, key in enumerate(keys):
        write_source(root / "data" / f"{key}.csv", range(n * members, (n + 1) * members))
    record_apply(config, root / "state")
    for n, key in enumerate(keys):  # 1% of the audiences: one member out, one new member in
        if n % 100 == 0:
            write_source(root / "data" / f"{key}.csv", range(n * members + 1, (n + 1) * members + 1))
    report(f"{audiences:,} audiences x {members:,} members", timed_plan(config, root / "state"), 3.0)
    print("  in-process: " + breakdown(config, root / "state"))


def bench_big(root: Path, members: int, churn: float) -> None:
    config = write_config(root, {"big": "commbox"})
    write_source(root / "data/big.csv", range(members))
    record_apply(config, root / "state")
    step = max(1, round(1 / churn))
    kept = (i for i in range(members) if i % step)
    write_source(root / "data/big.csv", _chain(kept, range(members, members + members // step)))
    report(f"1 audience x {members:,} members, {churn:.0%} churn", timed_plan(config, root / "state"), 20.0)
    print("  in-process: " + breakdown(config, root / "state"))


def _chain(*parts: Iterable[int]) -> Iterable[int]:
    for part in parts:
        yield from part


def report(label: str, result: tuple[list[str], float, float, int], target: float) -> None:
    command, seconds, peak, code = result
    verdict = "ok" if seconds <= target else "OVER TARGET"
    print(f"{label}: plan {seconds:.2f} s (target {target:.0f} s, {verdict}), peak RSS {peak:.0f} MiB, "
          f"exit {code}")
    print("  " + " ".join(command))


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--audiences", type=int, default=1000)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--big-members", type=int, default=1_000_000)
    parser.add_argument("--churn", type=float, default=0.01)
    parser.add_argument("--only", choices=("many", "big"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/plan")
    args = parser.parse_args()
    os.environ.pop("RECONCILER_FINGERPRINT_KEY", None)
    print(f"reconciler plan benchmark on {os.cpu_count()} CPUs; reproduce: python3 {' '.join(sys.argv)}")
    for name in ("many", "big"):
        if args.only and args.only != name:
            continue
        root = args.out / name
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        if name == "many":
            bench_many(root, args.audiences, args.members)
        else:
            bench_big(root, args.big_members, args.churn)


if __name__ == "__main__":
    main()
