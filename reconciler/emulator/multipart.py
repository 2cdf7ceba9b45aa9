"""Streaming multipart/form-data parsing into temporary files (python-multipart's parser).

Bodies are never held in memory whole: every part is spooled to disk past a small threshold, so
a 100 MB upload costs the emulator a temp file, not 100 MB of RSS.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from reconciler.emulator.wire import ApiError, BodyReader

FIELD_LIMIT = 64 * 1024  # a text field larger than this is refused


@dataclass
class Part:
    """One uploaded part: its form name, optional filename, size and where its bytes are on disk."""

    name: str
    filename: str | None
    content_type: str | None
    path: Path
    size: int = 0
    truncated: bool = False  # more than max_part_bytes were sent; only the first bytes are kept


@dataclass
class Form:
    """A parsed form: text fields and file parts (files include any part that has a filename)."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Part] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # every part name, in order


def parse_multipart(
    body: BodyReader, content_type: str | None, tmpdir: Path, max_part_bytes: int | None = None
) -> Form:
    """Parse a multipart body from `body` into `Form`, spooling parts into files under `tmpdir`.

    Raises ApiError(400) for a missing boundary or a malformed body.
    """
    ctype, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ApiError(400, "expected multipart/form-data with a boundary")
    form = Form()
    state = _PartState(tmpdir, max_part_bytes)

    def on_part_end() -> None:
        part = state.finish()
        form.names.append(part.name)
        if part.filename is None and part.size <= FIELD_LIMIT:
            form.fields[part.name] = part.path.read_bytes().decode("utf-8", "replace")
            part.path.unlink(missing_ok=True)
        else:
            form.files[part.name] = part

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": state.begin,
            "on_header_field": state.header_field,
            "on_header_value": state.header_value,
            "on_header_end": state.header_end,
            "on_headers_finished": state.headers_finished,
            "on_part_data": state.data,
            "on_part_end": on_part_end,
        },
    )
    try:
        while chunk := body.read():
            parser.write(chunk)
        parser.finalize()
        if not state.ended_cleanly(form):
            raise MultipartParseError("the body ends inside a part")
    except BaseException as exc:  # never leave spool files behind
        state.abort()
        discard(form)
        if isinstance(exc, MultipartParseError):
            raise ApiError(400, "malformed multipart body") from None
        raise
    return form


class _PartState:
    """Callback state of the streaming parser: the current part's headers and its spool file."""

    def __init__(self, tmpdir: Path, max_part_bytes: int | None) -> None:
        self.tmpdir = tmpdir
        self.max_part_bytes = max_part_bytes
        self.headers: dict[str, str] = {}
        self._field = b""
        self._value = b""
        self.file: IO[bytes] | None = None
        self.part: Part | None = None
        self.parts = 0

    def begin(self) -> None:
        self.headers = {}
        self._field = self._value = b""

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def header_end(self) -> None:
        self.headers[self._field.decode("latin-1").lower()] = self._value.decode("utf-8", "replace")
        self._field = self._value = b""

    def headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get("content-disposition", ""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = params.get(b"filename")
        filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
        handle = tempfile.NamedTemporaryFile(dir=self.tmpdir, prefix="part-", delete=False)  # noqa: SIM115
        self.file = handle
        self.part = Part(name, filename, self.headers.get("content-type"), Path(handle.name))

    def data(self, data: bytes, start: int, end: int) -> None:
        assert self.part is not None and self.file is not None
        before = self.part.size
        self.part.size += end - start
        if self.max_part_bytes is not None and self.part.size > self.max_part_bytes:
            self.part.truncated = True
            end = start + max(0, self.max_part_bytes - before)
        self.file.write(data[start:end])

    def finish(self) -> Part:
        assert self.part is not None and self.file is not None
        self.file.close()
        part, self.part, self.file = self.part, None, None
        self.parts += 1
        return part

    def abort(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.part is not None:
            self.part.path.unlink(missing_ok=True)

    def ended_cleanly(self, form: Form) -> bool:
        return self.part is None and self.parts == len(form.names)


def discard(form: Form) -> None:
    """Delete the spool files of a form."""
    for part in form.files.values():
        part.path.unlink(missing_ok=True)
