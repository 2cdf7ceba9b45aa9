"""Benchmark: streamed uploads over real loopback HTTP keep memory flat.

Sends a generated CSV (default 100 MB) to a local discard server twice, as a multipart PUT
(CommBox-style) and as a raw presigned PUT (Whop-style), and prints the time, throughput and peak
Python heap (tracemalloc) of each.

Reproduce:  python3 bench/bench_http_upload.py [--mb 100]
"""

from __future__ import annotations

import argparse
import http.server
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reconciler.providers.http import FilePart, ProviderHTTP, build_client


class Discard(http.server.BaseHTTPRequestHandler):
    """Reads and drops the request body in 64 KiB chunks; answers 200 with a small JSON body."""

    def do_PUT(self) -> None:
        remaining = int(self.headers.get("Content-Length", "0"))
        while remaining:
            chunk = self.rfile.read(min(65_536, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
        body = b'{"status": 200, "data": {"id": "1"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def make_csv(path: Path, megabytes: int) -> None:
    line = b"+14155550123,Firstname,Lastname,someone@example.com\n"
    block = line * (1_048_576 // len(line))
    with open(path, "wb") as fh:
        fh.write(b"phone1,first_name,last_name,email\n")
        for _ in range(megabytes):
            fh.write(block)


def measure(label: str, send: Callable[[], object], size: int) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    send()
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<16} {size / 1e6:8.1f} MB  {elapsed:6.2f} s  {size / 1e6 / elapsed:7.1f} MB/s  "
          f"peak heap {peak / 1e6:6.2f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="file size in MiB (default 100)")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Discard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "members.csv"
        make_csv(path, args.mb)
        size = path.stat().st_size
        client: httpx.Client = build_client()
        session = ProviderHTTP("commbox", token="bench-token", base_url=base, client=client)
        print(f"python3 bench/bench_http_upload.py --mb {args.mb}")
        measure(
            "multipart PUT",
            lambda: session.request("PUT", "/Audiences/1", file=FilePart(path, "audience_file")),
            size,
        )
        measure(
            "raw presigned PUT",
            lambda: session.upload(f"{base}/upload", path, {"Content-Type": "text/csv"}),
            size,
        )
        client.close()
    server.shutdown()


if __name__ == "__main__":
    main()
