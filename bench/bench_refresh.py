"""How long `refresh` takes, and how many HTTP requests it makes, for many managed audiences.

Creates N CommBox and N Smallest audiences at the local emulator (raw API calls), records them in a
state, then times the drift read-back (`reconciler.planning.drift.refresh`) against a naive read per audience.

Reproduce:  PYTHONPATH=. python3 bench/bench_refresh.py [N]     (default N=250, i.e. 500 audiences)
"""

from __future__ import annotations

import sys
import time

import httpx

from reconciler.emulator import Emulator
from reconciler.planning.drift import read_audiences, refresh
from reconciler.providers import make_provider
from reconciler.state.store import AudienceState, State


def main(count: int) -> None:
    with Emulator(port=0) as emu:
        env = emu.env()
        state = State()
        for provider, path, field, column in (
            ("commbox", "/audiences", "audience_file", "phone1"),
            ("smallest", "/audience", "file", "Mobile"),
        ):
            headers = {"Authorization": f"Bearer {emu.tokens[provider]}"}
            with httpx.Client(base_url=emu.base_urls[provider], headers=headers, timeout=30) as http:
                for i in range(count):
                    name = f"{provider} audience {i}"
                    data = {"name": name, "phoneNumberColumnName": column}
                    body = f"{column}\n+1415555{i:04d}\n".encode()
                    answer = http.post(path, data=data, files={field: ("a.csv", body, "text/csv")}).json()
                    pid = str(answer["data"].get("id") or answer["data"].get("_id"))
                    key = f"{provider}-{i}"
                    state.audiences[key] = AudienceState(key, provider, pid, name, member_count=1)
        clients = {name: make_provider(name, {}, env) for name in ("commbox", "smallest")}
        try:
            emu.clear_log()
            started = time.perf_counter()
            result = refresh(state, clients)
            batched, batched_requests = time.perf_counter() - started, len(emu.request_log)
            assert not result.has_drift, [f.message for f in result.findings[:3]]
            emu.clear_log()
            started = time.perf_counter()
            for entry in state.audiences.values():
                read_audiences(clients[entry.provider], [entry.provider_id])
            naive, naive_requests = time.perf_counter() - started, len(emu.request_log)
        finally:
            for client in clients.values():
                client.close()
    total = len(state.audiences)
    print(f"refresh of {total} audiences ({count} CommBox + {count} Smallest) against the local emulator:")
    print(f"  listing per provider : {batched:6.2f} s, {batched_requests:5d} HTTP requests")
    print(f"  read per audience    : {naive:6.2f} s, {naive_requests:5d} HTTP requests")
    print(f"reproduce: PYTHONPATH=. python3 bench/bench_refresh.py {count}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 250)
