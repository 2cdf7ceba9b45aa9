"""Apply converges under transient faults (429, 5xx, dropped connections) without duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest
from apply_support import Project, check_exactly_once, cli, emulator_env, fast_providers, make_six, person

from reconciler.emulator import Emulator, Faults

# 30% of API requests misbehave: throttled, server errors, dropped before or after processing.
FAULTS = Faults(rate_429=0.10, rate_5xx=0.10, rate_drop=0.05, drop_after_processing=0.05, retry_after=0)


def _converge(project: Project, tries: int = 8) -> list[int]:
    codes = []
    for _ in range(tries):
        result = cli("apply", "--auto-approve", *project.args())
        assert "Traceback" not in result.err and "internal error" not in result.out, result.out
        codes.append(result.code)
        if result.code == 0:
            return codes
    raise AssertionError(f"did not converge in {tries} runs: exit codes {codes}")


@pytest.mark.slow
def test_apply_converges_under_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_url: str | None
) -> None:
    fast_providers(monkeypatch)
    project = make_six(tmp_path, 8, range(20, 26), state_url)
    with Emulator(port=0, faults=FAULTS, seed=7) as emulator, emulator_env(emulator):
        _converge(project)
        # Now change members of every audience (each provider's update strategy) and rename two.
        for name in ("vip.csv", "callers.csv", "buyers_b.csv"):
            project.rows[name] = project.rows[name][2:] + [person(i) for i in range(40, 43)]
        project.rows["buyers.csv"] += [person(50)]
        project.audiences["buyers"]["name"] = "Whop buyers renamed"
        project.audiences["callers-b"]["name"] = "Callers B renamed"
        project.write()
        _converge(project)
        api = [r for r in emulator.request_log if r.provider != "whop-upload"]
        faulty = [r for r in api if r.fault and r.fault != "slow"]
        assert len(faulty) >= 8 and len(faulty) / len(api) >= 0.15, (len(faulty), len(api))  # they happened
        emulator.faults = Faults()
        check_exactly_once(project, emulator)
        assert len(project.state_doc()["audiences"]) == 6
        assert cli("plan", "--detailed-exitcode", *project.args()).code == 0
        callers = project.state_doc()["audiences"]["callers"]["provider_id"]
        assert len(emulator.members("smallest", callers)) == 9
