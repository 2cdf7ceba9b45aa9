"""Run per-row work over chunks of rows: inline for small sources, else on a process pool.

The reading process stays the only reader; workers get chunks of mapped cells, return compact
results, and results come back in source order. At most a few chunks are in flight, so memory
stays bounded whatever the file size.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from multiprocessing.pool import AsyncResult
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

CHUNK_ROWS = 5_000
INLINE_ROWS = 20_000  # sources up to this many rows never pay for process start-up
_state: dict[str, Any] = {}


def chunked(rows: Iterable[T], size: int | None = None) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` (default CHUNK_ROWS) items."""
    size = size or CHUNK_ROWS
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def default_workers() -> int:
    """Worker processes to use by default: one per CPU, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _init(context: Any) -> None:
    _state["context"] = context


def _call(func: Callable[[Any, list[Any]], Any], chunk: list[Any]) -> Any:
    return func(_state["context"], chunk)


def map_chunks(
    func: Callable[[Any, list[T]], R],
    context: Any,
    chunks: Iterator[list[T]],
    workers: int | None = None,
) -> Iterator[R]:
    """`func(context, chunk)` for every chunk, results in order.

    `func` must be a module-level function (it crosses process boundaries)."""
    workers = default_workers() if workers is None else workers
    head: list[list[T]] = []
    buffered = 0
    for chunk in chunks:
        head.append(chunk)
        buffered += len(chunk)
        if buffered > INLINE_ROWS:
            break
    else:  # the whole source fits in the inline budget
        for chunk in head:
            yield func(context, chunk)
        return
    if workers <= 1:
        for chunk in head:
            yield func(context, chunk)
        for chunk in chunks:
            yield func(context, chunk)
        return
    methods = multiprocessing.get_all_start_methods()
    mp = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with mp.Pool(workers, initializer=_init, initargs=(context,)) as pool:
        pending: deque[AsyncResult[R]] = deque()
        limit = workers * 3
        for chunk in _chain(head, chunks):
            pending.append(pool.apply_async(_call, (func, chunk)))
            if len(pending) >= limit:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _chain(head: list[list[T]], rest: Iterator[list[T]]) -> Iterator[list[T]]:
    while head:
        yield head.pop(0)
    yield from rest
