"""Shared directory fsyncs for deliveries made on the queue manager's loop.

A Maildir delivery is durable once its file is fsynced and its name in new/ is too, which
takes an fsync of new/. Deliveries that run on the loop (LocalAgent with affix/offload.py)
leave that last fsync to the queue manager, which asks here before it records the outcome:
every delivery that linked a file into the same directory since the last round shares one
fsync. A waiter is released only by an fsync that started after it asked (so after its link),
and only then is its queue file marked done.
"""

from __future__ import annotations

import asyncio
import os


class DirSync:
    def __init__(self) -> None:
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}
        self._scheduled = False

    async def sync(self, directories: set[str]) -> dict[str, OSError]:
        """fsync each directory (shared with the other waiters of this round); the ones that
        failed, with their error."""
        loop = asyncio.get_running_loop()
        futures = {}
        for path in directories:
            futures[path] = loop.create_future()
            self._waiting.setdefault(path, []).append(futures[path])
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._round)  # after the deliveries ready to run now have linked
        failed = {}
        for path, future in futures.items():
            try:
                await future
            except OSError as e:
                failed[path] = e
        return failed

    def _round(self) -> None:
        self._scheduled = False
        batch, self._waiting = self._waiting, {}
        for path, futures in batch.items():
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                for future in futures:
                    future.set_exception(e)
            else:
                for future in futures:
                    future.set_result(None)
