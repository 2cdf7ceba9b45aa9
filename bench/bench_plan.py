"""Benchmark `reconciler plan`: wall time and peak memory of the real command, in a subprocess.

Scenarios (state prepared first, as an apply would leave it; only the plan is timed):
  many      1,000 audiences x 100 members, 1% of the audiences changed since the apply
            (target: at most 1.0 s)
  monorepo  200 audiences x 20,000 members, one changed; compared with `single`, a project of
            that one audience alone (target: at most 3x its time)
  big       one audience of 1,000,000 members with 1% churn (1% removed, 1% added)
            (target: no slower than before unchanged sources were skipped: about 9 s idle)

    python3 bench/bench_plan.py                          # every scenario, full size, 3 runs each
    python3 bench/bench_plan.py --only many --repeat 5   # one scenario, the median of 5 runs
    python3 bench/bench_plan.py --audiences 100 --big-members 100000 --mono-audiences 20   # quick

Each figure is the median of `--repeat` runs of the command printed under it; `--rescan` adds the
same plan reading every source (what plan cost before). Phones are fictional (+1 NPA 555-XXXX);
files go under bench/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.config.load import load_declaration  # noqa: E402
from reconciler.planning.diff import applied_entry, provider_settings  # noqa: E402
from reconciler.planning.engine import PlanOptions, load_project, make_plan  # noqa: E402
from reconciler.planning.records import normaliser_digest, recorded_rows  # noqa: E402
from reconciler.render import render_text  # noqa: E402

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
            spec, settings, f"bench-{key}", scan.members, source_sha256=scan.sha256,
            normaliser=normaliser_digest(spec, project.key), rows=recorded_rows(scan),
        )
        sets[key] = scan.members
    project.store.save(state, sets)


def breakdown(config: Path, state_dir: Path) -> str:
    """In-process split of the same plan (seconds): declaration, state + hashing + scans, diff +
    guards, text rendering."""
    marks = [time.perf_counter()]
    load_declaration(config, headers=False)
    marks.append(time.perf_counter())
    project = load_project(config, state_dir, reuse=True)
    marks.append(time.perf_counter())
    plan = make_plan(project, PlanOptions())
    marks.append(time.perf_counter())
    render_text(plan.to_dict())
    marks.append(time.perf_counter())
    names = ("declaration", "load+hash+scan (declaration again)", "diff+guards", "render")
    parts = ", ".join(f"{name} {b - a:.2f} s" for name, a, b in zip(names, marks, marks[1:], strict=False))
    return f"{parts}; {len(project.scans)} parsed, {len(project.unchanged)} unchanged"


Timing = tuple[list[str], float, float, int, float]  # command, seconds, peak RSS MiB, exit code, CPU s


def timed_plan(config: Path, state_dir: Path, *flags: str) -> Timing:
    """Run `reconciler plan` in a subprocess: (command, seconds, peak RSS MiB, exit code, CPU
    seconds of the process and the workers it waited for: a figure other load barely moves)."""
    command = [sys.executable, "-m", "reconciler", "plan", "-c", str(config), "--state", str(state_dir),
               *flags]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 2, 3):
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"plan failed ({proc.returncode}): {err}")
    return command, seconds, usage.ru_maxrss / 1024, proc.returncode, usage.ru_utime + usage.ru_stime


def median_plan(config: Path, state_dir: Path, repeat: int, *flags: str) -> Timing:
    """`timed_plan` run `repeat` times: (command, median seconds, peak RSS, exit code); prints each run."""
    runs = [timed_plan(config, state_dir, *flags) for _ in range(repeat)]
    print("  runs: " + ", ".join(f"{r[1]:.2f} s (cpu {r[4]:.2f} s)" for r in runs))
    return (runs[0][0], statistics.median(r[1] for r in runs), max(r[2] for r in runs), runs[0][3],
            statistics.median(r[4] for r in runs))


def write_project(root: Path, audiences: int, members: int, provider_of: Iterable[str] | None = None) -> Path:
    """`audiences` audiences of `members` members each (phones may repeat across audiences)."""
    root.mkdir(parents=True, exist_ok=True)
    providers = list(provider_of) if provider_of is not None else [PROVIDERS[n % 3] for n in range(audiences)]
    keys = {f"aud-{n:04d}": providers[n] for n in range(audiences)}
    config = write_config(root, keys)
    for n, key in enumerate(keys):
        write_source(root / "data" / f"{key}.csv", _members(n, members))
    return config


def _members(n: int, members: int, shift: int = 0) -> Iterable[int]:
    """The members of audience n: a window of the fictional numbers (at most 1,260,000 of them)."""
    return ((n * members + i + shift) % 1_260_000 for i in range(members))


def bench_many(root: Path, audiences: int, members: int, repeat: int, rescan: bool) -> None:
    config = write_project(root, audiences, members)
    record_apply(config, root / "state")
    for n in range(0, audiences, 100):  # 1% of the audiences: one member out, one new member in
        write_source(root / "data" / f"aud-{n:04d}.csv", _members(n, members, shift=1))
    label = f"{audiences:,} audiences x {members:,} members, 1% changed"
    report(label, median_plan(config, root / "state", repeat), "<= 1.0 s", 1.0)
    if rescan:
        report(label + ", --rescan", median_plan(config, root / "state", repeat, "--rescan"), "", None)
    print("  in-process: " + breakdown(config, root / "state"))


def bench_monorepo(root: Path, audiences: int, members: int, repeat: int, rescan: bool) -> None:
    config = write_project(root / "all", audiences, members, ["commbox"] * audiences)
    record_apply(config, root / "all/state")
    single = write_project(root / "one", 1, members, ["commbox"])
    record_apply(single, root / "one/state")
    changed = audiences // 2  # one audience in the middle: one member out, one new member in
    write_source(root / "all/data" / f"aud-{changed:04d}.csv", _members(changed, members, shift=1))
    write_source(root / "one/data/aud-0000.csv", _members(0, members, shift=1))
    alone = median_plan(single, root / "one/state", repeat)
    report(f"1 audience x {members:,} members, changed (alone)", alone, "", None)
    together = median_plan(config, root / "all/state", repeat)
    ratio = together[1] / alone[1]
    report(f"{audiences:,} audiences x {members:,} members, one changed", together,
           f"<= 3x alone: {ratio:.1f}x", 3.0 * alone[1])
    if rescan:
        label = f"{audiences:,} audiences x {members:,} members, --rescan"
        report(label, median_plan(config, root / "all/state", 1, "--rescan"), "", None)
    print("  in-process: " + breakdown(config, root / "all/state"))


def bench_big(root: Path, members: int, churn: float, repeat: int) -> None:
    config = write_config(root, {"big": "commbox"})
    write_source(root / "data/big.csv", range(members))
    record_apply(config, root / "state")
    step = max(1, round(1 / churn))
    kept = (i for i in range(members) if i % step)
    write_source(root / "data/big.csv", _chain(kept, range(members, members + members // step)))
    label = f"1 audience x {members:,} members, {churn:.0%} churn"
    report(label, median_plan(config, root / "state", repeat), "no slower than before (~9 s idle)", None)
    print("  in-process: " + breakdown(config, root / "state"))


def _chain(*parts: Iterable[int]) -> Iterable[int]:
    for part in parts:
        yield from part


def report(label: str, result: Timing, target: str, limit: float | None) -> None:
    command, seconds, peak, code, cpu = result
    verdict = "" if limit is None else (" ok" if seconds <= limit else " OVER TARGET")
    aim = f" (target {target}{verdict})" if target else ""
    print(f"{label}: plan {seconds:.2f} s median{aim}, cpu {cpu:.2f} s, peak RSS {peak:.0f} MiB, exit {code}")
    print("  " + " ".join(command))


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--audiences", type=int, default=1000)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--mono-audiences", type=int, default=200)
    parser.add_argument("--mono-members", type=int, default=20_000)
    parser.add_argument("--big-members", type=int, default=1_000_000)
    parser.add_argument("--churn", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is reported)")
    parser.add_argument("--rescan", action="store_true", help="also time the plans with --rescan")
    parser.add_argument("--only", choices=("many", "monorepo", "big"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/plan")
    args = parser.parse_args()
    os.environ.pop("RECONCILER_FINGERPRINT_KEY", None)
    # Byte-compile the package first, as `pip install` does: the command is timed as users run it,
    # not compiling its own source on every run (with PYTHONDONTWRITEBYTECODE set, it would).
    compileall.compile_dir(ROOT / "reconciler", quiet=1)
    print(f"reconciler plan benchmark on {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; reproduce: python3 {' '.join(sys.argv)}")
    for name in ("many", "monorepo", "big"):
        if args.only and args.only != name:
            continue
        root = args.out / name
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        if name == "many":
            bench_many(root, args.audiences, args.members, args.repeat, args.rescan)
        elif name == "monorepo":
            bench_monorepo(root, args.mono_audiences, args.mono_members, args.repeat, args.rescan)
        else:
            bench_big(root, args.big_members, args.churn, args.repeat)


if __name__ == "__main__":
    main()
