"""Uploads stream from disk: memory stays flat for a 100 MB file, multipart and raw PUT alike."""

from __future__ import annotations

import itertools
import tracemalloc
from pathlib import Path

import httpx
import pytest
from test_providers_support import TOKEN, FakeClock

from reconciler.providers.http import FilePart, ProviderHTTP

SIZE = 100 * 1024 * 1024


class DrainTransport(httpx.BaseTransport):
    """Consumes each request body chunk by chunk, keeping only the byte count and largest chunk."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.largest_chunk = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        total = 0
        for chunk in request.stream:  # type: ignore[union-attr]
            total += len(chunk)
            self.largest_chunk = max(self.largest_chunk, len(chunk))
        self.received.append(total)
        return httpx.Response(200, json={"status": 200, "data": {"id": "1"}})


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "members.csv"
    with open(path, "wb") as fh:
        fh.write(b"phone1\n")
        fh.truncate(SIZE)  # sparse: instant to create, 100 MB to read
    return path


def _session(transport: DrainTransport) -> ProviderHTTP:
    clock = FakeClock()
    return ProviderHTTP(
        "commbox",
        token=TOKEN,
        base_url="https://api.test/",
        client=httpx.Client(transport=transport),
        sleep=clock.sleep,
        clock=clock.monotonic,
        wall=clock.wall,
    )


@pytest.mark.parametrize("kind", ["multipart", "raw"])
def test_upload_of_100_mb_keeps_memory_flat(big_file: Path, kind: str) -> None:
    transport = DrainTransport()
    http = _session(transport)
    progress: list[tuple[int, int | None]] = []
    tracemalloc.start()
    try:
        if kind == "multipart":
            http.request(
                "PUT",
                "/Audiences/1",
                file=FilePart(big_file, "audience_file", "a.csv"),
                progress=lambda done, total: progress.append((done, total)),
            )
        else:
            http.upload("https://storage.test/u", big_file, {}, progress=lambda d, t: progress.append((d, t)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert transport.received[0] >= SIZE  # every byte went out
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a {SIZE / 1e6:.0f} MB upload"
    assert transport.largest_chunk <= 1024 * 1024
    assert progress[-1] == (SIZE, SIZE)
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(progress))
