"""Short blocking work (file system calls, fsyncs) on the event loop while it stays short,
on a thread when it is not.

A thread hop costs a hand-off each way plus interpreter-lock traffic for every system call
the thread makes while the loop runs Python; on fast storage that costs more than the work
itself. Work that may wait long (a slow disk) must not stall SMTP sessions, though. Offload
times what it runs and decides by a moving average: on the loop below `limit` seconds, on a
thread above it. A process without SMTP sessions (the master of affix_workers) has nobody
to keep waiting: it starts on its loop and allows more (`MASTER_LIMIT`), and goes to threads
only when the disk is slow enough that several deliveries should wait for it at once.
`limit=None`: always on the loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


SESSIONS_LIMIT = 0.001  # seconds: what the loop of SMTP sessions may spend on one piece
MASTER_LIMIT = 0.005  # ... and the loop of a process without sessions


class Offload:
    def __init__(self, limit: float | None, on_loop_first: bool = False):
        self.limit = limit
        # seconds, moving average; unmeasured work goes to the thread unless on_loop_first
        self.cost = 0.0 if on_loop_first else 1.0

    def on_loop(self) -> bool:
        return self.limit is None or self.cost < self.limit

    def note(self, seconds: float) -> None:
        self.cost += (seconds - self.cost) / 4

    def timed(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn here (on the loop or in the caller's thread), noting how long it took."""
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.note(time.perf_counter() - start)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.on_loop():
            return self.timed(fn, *args)
        return await asyncio.to_thread(self.timed, fn, *args)


def settle(future: asyncio.Future[Any], error: BaseException | None) -> None:
    """Release a waiter with its work's outcome (unless it stopped waiting: cancelled)."""
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
