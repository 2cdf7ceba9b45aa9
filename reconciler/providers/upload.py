"""Files sent from disk: streamed, never read whole, with byte progress."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from reconciler.providers.base import Progress


@dataclass(frozen=True)
class FilePart:
    """A file sent from disk: a multipart field (`field` set) or the whole raw body (`field` None)."""

    path: Path
    field: str | None = None
    filename: str | None = None
    content_type: str = "text/csv"


class _CountingReader:
    """A read-only binary file wrapper that reports bytes read; keeps fileno/seek for httpx."""

    def __init__(self, raw: IO[bytes], size: int, progress: Progress | None) -> None:
        self._raw = raw
        self._size = size
        self._progress = progress
        self._done = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self._raw.read(n)
        self._done += len(chunk)
        if self._progress is not None and chunk:
            self._progress(self._done, self._size)
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(65_536):
            yield chunk

    def fileno(self) -> int:
        return self._raw.fileno()

    def seek(self, offset: int, whence: int = 0) -> int:
        pos = self._raw.seek(offset, whence)
        self._done = pos
        return pos

    def tell(self) -> int:
        return self._raw.tell()
