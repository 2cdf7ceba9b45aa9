"""Emulator lifecycle, addresses, the `reconciler emulate` command, and the streaming parsers."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from emulator_support import auth
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reconciler.cli import main
from reconciler.emulator import DEFAULT_TOKENS, Emulator, is_loopback
from reconciler.emulator.multipart import parse_multipart
from reconciler.emulator.tables import open_table
from reconciler.emulator.wire import ApiError, BodyReader

REPO = Path(__file__).resolve().parents[1]


def test_base_urls_tokens_and_env() -> None:
    with Emulator() as emu:
        root = f"http://127.0.0.1:{emu.port}"
        assert emu.port > 0
        assert emu.base_urls == {
            "commbox": f"{root}/commbox",
            "whop": f"{root}/whop/api/v1",
            "smallest": f"{root}/smallest/atoms/v1",
        }
        assert emu.tokens == DEFAULT_TOKENS
        env = emu.env()
        assert env["COMMBOX_BASE_URL"] == emu.base_urls["commbox"]
        assert env["WHOP_BASE_URL"] == emu.base_urls["whop"]
        assert env["SMALLEST_BASE_URL"] == emu.base_urls["smallest"]
        assert (env["COMMBOX_API_TOKEN"], env["WHOP_API_KEY"], env["SMALLEST_API_KEY"]) == (
            "emulator-commbox-token",
            "emulator-whop-token",
            "emulator-smallest-token",
        )
        assert env["WHOP_ACCOUNT_ID"].startswith("biz_")


def test_custom_tokens_replace_the_defaults() -> None:
    with Emulator(tokens={"smallest": "s3cret"}) as emu, httpx.Client() as c:
        url = emu.base_urls["smallest"] + "/audience"
        assert c.get(url, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert (
            c.get(url, headers={"Authorization": f"Bearer {DEFAULT_TOKENS['smallest']}"}).status_code == 401
        )
        assert emu.tokens["commbox"] == DEFAULT_TOKENS["commbox"]


def test_start_stop_frees_the_port_and_the_temp_files() -> None:
    emu = Emulator().start()
    tmp = emu.ctx.tmpdir
    with httpx.Client() as c:
        r = c.post(
            emu.base_urls["commbox"] + "/audiences",
            headers=auth(emu, "commbox"),
            data={"name": "x"},
            files={"audience_file": ("a.csv", b"phone1\n1\n")},
        )
        assert r.status_code == 201 and any(tmp.iterdir())
    emu.stop()
    assert not tmp.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(emu.base_urls["commbox"] + "/audiences", timeout=2)


def test_unknown_prefix_is_404() -> None:
    with Emulator() as emu:
        assert httpx.get(emu.root_url + "/elsewhere/audiences").status_code == 404


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.10", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_only_loopback_hosts(host: str, ok: bool) -> None:
    assert is_loopback(host) is ok
    if not ok:
        with pytest.raises(ValueError):
            Emulator(host=host)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--host", "0.0.0.0"], "loopback"),
        (["--rate-429", "0.7", "--rate-5xx", "0.7"], "more than 1"),
        (["--rate-drop", "2"], "between 0 and 1"),
        (["--port", "70000"], "65535"),
        (["--polls", "0"], "--polls"),
    ],
)
def test_emulate_refuses_bad_flags(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["emulate", *argv]) == 1
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_emulate_command_serves_until_interrupted() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "emulate", "--port", "0", "--seed", "3"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        exports: dict[str, str] = {}
        while len(exports) < 7:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                exports[name] = value
        assert set(exports) == {
            "COMMBOX_BASE_URL",
            "COMMBOX_API_TOKEN",
            "WHOP_BASE_URL",
            "WHOP_API_KEY",
            "SMALLEST_BASE_URL",
            "SMALLEST_API_KEY",
            "WHOP_ACCOUNT_ID",
        }
        r = httpx.get(
            exports["SMALLEST_BASE_URL"] + "/audience",
            headers={"Authorization": f"Bearer {exports['SMALLEST_API_KEY']}"},
            timeout=5,
        )
        assert r.status_code == 200 and r.json() == {"status": True, "data": []}
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "GET" in err and "/audience -> 200" in err  # the request line log
        assert exports["SMALLEST_API_KEY"] not in err and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- parsers --------------------------------------------------------------------------------------


def encode(boundary: str, fields: dict[str, str], files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() + b"\r\n")
    for name, data in files.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n".encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue()


def reader(data: bytes, chunks: list[int] | None = None) -> BodyReader:
    if chunks is None:
        return BodyReader(io.BufferedReader(io.BytesIO(data)), len(data), False)  # type: ignore[arg-type]
    framed = io.BytesIO()
    pos = 0
    for size in chunks:
        piece = data[pos : pos + size]
        pos += size
        if piece:
            framed.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    rest = data[pos:]
    if rest:
        framed.write(f"{len(rest):x}\r\n".encode() + rest + b"\r\n")
    framed.write(b"0\r\n\r\n")
    return BodyReader(io.BufferedReader(io.BytesIO(framed.getvalue())), None, True)  # type: ignore[arg-type]


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
field_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


@settings(max_examples=60)
@given(
    boundary=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=40),
    fields=st.dictionaries(names, field_values, max_size=4),
    files=st.dictionaries(names.map(lambda n: "f_" + n), st.binary(max_size=3000), max_size=3),
    chunked=st.booleans(),
    sizes=st.lists(st.integers(min_value=1, max_value=700), max_size=8),
)
def test_multipart_round_trips(
    tmp_path: Path,
    boundary: str,
    fields: dict[str, str],
    files: dict[str, bytes],
    chunked: bool,
    sizes: list[int],
) -> None:
    delimiter = f"\r\n--{boundary}".encode()
    assume(all(delimiter not in v.encode() + b"\r\n" for v in fields.values()))
    assume(all(delimiter not in d + b"\r\n" for d in files.values()))
    body = encode(boundary, fields, files)
    form = parse_multipart(
        reader(body, sizes if chunked else None), f"multipart/form-data; boundary={boundary}", tmp_path
    )
    assert form.fields == {k: v for k, v in fields.items()}
    assert {k: p.path.read_bytes() for k, p in form.files.items()} == files
    assert all(p.size == len(files[k]) for k, p in form.files.items())


@settings(max_examples=80)
@given(garbage=st.binary(max_size=600))
def test_multipart_garbage_is_a_400_never_a_crash(tmp_path: Path, garbage: bytes) -> None:
    body = b"--b\r\n" + garbage
    try:
        parse_multipart(reader(body), "multipart/form-data; boundary=b", tmp_path)
    except ApiError as exc:
        assert exc.status == 400


def test_multipart_keeps_a_size_cap_without_buffering(tmp_path: Path) -> None:
    body = encode("xyz", {"name": "n"}, {"file": b"a" * 5000})
    form = parse_multipart(reader(body), "multipart/form-data; boundary=xyz", tmp_path, max_part_bytes=1000)
    part = form.files["file"]
    assert part.truncated and part.size == 5000 and part.path.stat().st_size == 1000
    with pytest.raises(ApiError):
        parse_multipart(reader(b"x"), "application/json", tmp_path)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=5000), sizes=st.lists(st.integers(min_value=1, max_value=900), max_size=10))
def test_chunked_bodies_decode_to_the_original(data: bytes, sizes: list[int]) -> None:
    body = reader(data, sizes)
    assert body.read_all() == data and body.done


@pytest.mark.parametrize(
    ("raw", "header"),
    [
        (b"phone1,name\r\n1,a\r\n", ("phone1", "name")),
        (b"\xef\xbb\xbfphone1;name\n1;a\n", ("phone1", "name")),
        (b"phone1\tname\n1\ta\n", ("phone1", "name")),
    ],
)
def test_tables_read_delimiters_and_bom(tmp_path: Path, raw: bytes, header: tuple[str, ...]) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(raw)
    table = open_table(path)
    assert table.header == header and list(table.rows()) == [{"phone1": "1", "name": "a"}]


def test_tables_refuse_binary_and_non_utf8(tmp_path: Path) -> None:
    for raw in (b"\x00\x01", b"ph\xffone\n1\n", b""):
        path = tmp_path / "t.csv"
        path.write_bytes(raw)
        with pytest.raises(ApiError):
            open_table(path)


def _send_truncated(port: int, method: str, target: str, headers: dict[str, str]) -> None:
    """Announce 100,000 bytes, send 500, hang up."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"{method} {target} HTTP/1.1\r\nHost: x\r\n{head}Content-Length: 100000\r\n\r\n".encode()
        )
        sock.sendall(
            b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n' + b"1" * 500
        )


@pytest.mark.parametrize("provider", ["commbox", "smallest", "whop-upload"])
def test_a_client_that_hangs_up_mid_body_leaves_nothing_behind(provider: str) -> None:
    with Emulator() as emu, httpx.Client() as c:
        if provider == "whop-upload":
            record = c.post(
                emu.base_urls["whop"] + "/files", headers=auth(emu, "whop"), json={"filename": "m.csv"}
            ).json()
            method, target, headers = (
                "PUT",
                record["upload_url"][len(emu.root_url) :],
                record["upload_headers"],
            )
        else:
            path = "/audiences" if provider == "commbox" else "/audience"
            method, target = "POST", emu.base_urls[provider][len(emu.root_url) :] + path
            headers = {**auth(emu, provider), "Content-Type": "multipart/form-data; boundary=zz"}
        emu.clear_log()
        _send_truncated(emu.port, method, target, headers)
        deadline = time.monotonic() + 5
        while not emu.request_log and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [e.status for e in emu.request_log] == [400]  # answered to nobody; nothing stored
        assert (
            c.get(emu.base_urls["smallest"] + "/audience", headers=auth(emu, "smallest")).status_code == 200
        )
        assert list(emu.ctx.tmpdir.iterdir()) == []
        assert emu.audiences("commbox") == [] and emu.audiences("smallest") == []


def test_emulate_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with Emulator() as emu:
        assert main(["emulate", "--port", str(emu.port)]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{emu.port}" in err and "Traceback" not in err


def test_concurrent_creates_are_all_kept() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with Emulator() as emu, httpx.Client(timeout=10) as c:  # httpx.Client is thread-safe

        def create(i: int) -> str:
            r = c.post(
                emu.base_urls["smallest"] + "/audience",
                headers=auth(emu, "smallest"),
                data={"name": f"a{i}", "phoneNumberColumnName": "p"},
                files={"file": ("a.csv", f"p\n+1555{i:07d}\n+1666{i:07d}\n".encode())},
            )
            assert r.status_code == 200
            return str(r.json()["data"]["_id"])

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(create, range(24)))
        assert len(set(ids)) == 24
        listed = emu.audiences("smallest")
        assert sorted(a["_id"] for a in listed) == sorted(ids)
        assert all(a["memberCount"] == 2 for a in listed)


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "OPTIONS", "POST"])
def test_unsupported_methods_answer_405_with_allow_never_a_501_page(method: str) -> None:
    with Emulator() as emu, httpx.Client() as c:
        for provider, path, allowed in [
            ("commbox", "/audiences", "GET, POST"),
            ("smallest", "/audience/x/members", "DELETE, GET, POST"),
            ("whop", "/audiences/x", "DELETE, PATCH"),
        ]:
            if method in allowed:
                continue
            answer = c.request(method, emu.base_urls[provider] + path, headers=auth(emu, provider))
            assert answer.status_code == 405, (provider, method, answer.text)
            assert answer.headers["Allow"] == allowed
            assert answer.headers["Content-Type"].startswith("application/json")
        files = emu.base_urls["whop"] + "/files"
        record = c.post(files, headers=auth(emu, "whop"), json={"filename": "m.csv"})
        upload = c.request(method, record.json()["upload_url"])
        assert (upload.status_code, upload.headers.get("Allow")) == (405, "PUT")
