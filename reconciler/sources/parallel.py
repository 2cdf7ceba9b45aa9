"""Run per-row work over chunks of rows: inline for small sources, else on a process pool.

The reading process stays the only reader; workers get blocks of parsed records, pick and
normalise the mapped cells, return compact results, and results come back in source order. At
most a few blocks are in flight, so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from multiprocessing.pool import AsyncResult
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

CHUNK_ROWS = 5_000
INLINE_ROWS = 20_000  # sources up to this many rows never pay for process start-up
_state: dict[str, Any] = {}


def default_workers() -> int:
    """Worker processes to use by default: one per usable CPU, at most 4."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, usable or 1))


def start_method() -> str:
    """'fork' (cheapest) in a single-threaded process, else a method that is safe with threads."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _init(context: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the reading process's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a handler inherited by fork must not outlive it
    _state["context"] = context


def _call(func: Callable[[Any, Any], Any], chunk: Any) -> Any:
    return func(_state["context"], chunk)


def map_chunks(
    func: Callable[[Any, T], R],
    context: Any,
    chunks: Iterator[T],
    workers: int | None = None,
) -> Iterator[R]:
    """`func(context, chunk)` for every chunk of about CHUNK_ROWS rows, results in order.

    Inline when there are at most INLINE_ROWS rows; `func` must be a module-level function (it
    crosses process boundaries)."""
    workers = default_workers() if workers is None else workers
    head: list[T] = []
    inline_chunks = max(1, INLINE_ROWS // CHUNK_ROWS)
    for chunk in chunks:
        head.append(chunk)
        if len(head) > inline_chunks:
            break
    else:  # the whole source fits in the inline budget
        for chunk in _chain(head, iter(())):
            yield func(context, chunk)
        return
    if workers <= 1:
        for chunk in _chain(head, chunks):
            yield func(context, chunk)
        return
    mp = multiprocessing.get_context(start_method())
    pool = mp.Pool(workers, initializer=_init, initargs=(context,))
    try:
        pending: deque[AsyncResult[R]] = deque()
        limit = workers * 3
        for chunk in _chain(head, chunks):
            pending.append(pool.apply_async(_call, (func, chunk)))
            if len(pending) >= limit:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
        pool.close()  # done: workers finish and exit on their own
    except BaseException:  # an error, Ctrl-C, or the consumer stopped early
        pool.terminate()
        raise
    finally:
        pool.join()


def _chain(head: list[T], rest: Iterator[T]) -> Iterator[T]:
    """`head` then `rest`, dropping each of head's chunks once handed out (memory stays flat)."""
    head.reverse()
    while head:
        yield head.pop()
    yield from rest
