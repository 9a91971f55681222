"""The fsyncs of the deliveries on the queue manager's loop: there while they are quick, else
together in one thread hop.

A Maildir delivery is durable once its file is fsynced (before its link into new/) and its
name in new/ is too, which takes an fsync of new/. The deliveries that the queue manager runs
on its loop (LocalAgent with affix/offload.py) do the rest of their file work there and ask
here for these two:
- while an fsync costs less than the offload's limit (tmpfs, SSDs): a file's at once, on the
  loop; new/'s once per round, for every delivery that linked into it since the last round;
- on a slower disk: in rounds on a thread; a round starts as soon as one is asked for, and
  everything asked for while it runs goes together in the next one. A thread per delivery,
  as a whole, cost more CPU than the rest of the delivery: a hand-off each way, and a trip
  through the interpreter lock for each of its dozen system calls while the loop runs Python;
  a round takes one hand-off each way and a trip per fsync, for all of its deliveries.
A waiter is released only by an fsync that started after it asked (so, for new/, after its
link), and only then does the queue manager mark its queue file done.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from affix.offload import Offload, settle
from affix.queue.store import fsync_dir


class Syncs:
    def __init__(self, offload: Offload):
        self.offload = offload  # timed per fsync: how long one would keep the loop
        self._files: list[tuple[int, asyncio.Future[None]]] = []
        self._dirs: dict[str, list[asyncio.Future[None]]] = {}
        self._soon = False  # a round on the loop is scheduled
        self._busy = False  # a round runs on the thread

    async def file(self, fd: int) -> None:
        """fsync a file that this process has open; raises OSError."""
        if self.offload.on_loop():
            self.offload.timed(os.fsync, fd)
            return
        future = asyncio.get_running_loop().create_future()
        self._files.append((fd, future))
        self._next()  # at once: the delivery waits for it under its destination's limit
        await future

    async def dirs(self, directories: set[str]) -> dict[str, OSError]:
        """fsync each directory (shared with the other waiters of a round); the ones that
        failed, with their error."""
        loop = asyncio.get_running_loop()
        futures = {}
        for path in directories:
            futures[path] = loop.create_future()
            self._dirs.setdefault(path, []).append(futures[path])
        if not self.offload.on_loop():
            self._next()
        elif not self._soon:
            self._soon = True
            # after the deliveries ready to run now have linked theirs
            loop.call_soon(self._round_soon)
        failed = {}
        for path, future in futures.items():
            try:
                await future
            except OSError as e:
                failed[path] = e
        return failed

    def _round_soon(self) -> None:
        self._soon = False
        self._next()

    def _next(self) -> None:
        """A round for everything waiting, unless one runs on the thread (its end starts the
        next: what it is running may have started before these asked)."""
        if self._busy or not (self._files or self._dirs):
            return
        files, self._files = self._files, []
        dirs, self._dirs = self._dirs, {}
        fds, paths = [fd for fd, _ in files], list(dirs)
        if self.offload.on_loop():
            self._release(files, dirs, self._sync(fds, paths))
            return
        loop = asyncio.get_running_loop()
        try:
            loop.run_in_executor(None, self._on_thread, loop, files, dirs, fds, paths)
        except RuntimeError as e:  # the loop is closing: no more threads
            self._release(files, dirs, [OSError(str(e))] * (len(fds) + len(paths)))
            return
        self._busy = True

    def _on_thread(self, loop: asyncio.AbstractEventLoop,
                   files: list[tuple[int, asyncio.Future[None]]],
                   dirs: dict[str, list[asyncio.Future[None]]], fds: list[int],
                   paths: list[str]) -> None:
        """A round on the thread, which hands its results to the loop itself: the waiters go
        on in the loop's next turn (a future of run_in_executor would take two)."""
        try:
            errors = self._sync(fds, paths)
        except BaseException as e:  # noqa: BLE001 - every waiter must hear of it
            error = e if isinstance(e, OSError) else OSError(str(e))
            errors = [error] * (len(fds) + len(paths))
        loop.call_soon_threadsafe(self._done, files, dirs, errors)

    def _done(self, files: list[tuple[int, asyncio.Future[None]]],
              dirs: dict[str, list[asyncio.Future[None]]], errors: list[OSError | None]) -> None:
        self._busy = False
        self._release(files, dirs, errors)
        self._next()

    def _sync(self, fds: list[int], paths: list[str]) -> list[OSError | None]:
        """fsync the files, then the directories; per item None or its error. Nothing but
        system calls (on the thread, each is a trip through the interpreter lock)."""
        start = time.perf_counter()
        errors = [_error_of(os.fsync, fd) for fd in fds] + \
            [_error_of(fsync_dir, path) for path in paths]
        if errors:
            self.offload.note((time.perf_counter() - start) / len(errors))
        return errors

    @staticmethod
    def _release(files: list[tuple[int, asyncio.Future[None]]],
                 dirs: dict[str, list[asyncio.Future[None]]],
                 errors: list[OSError | None]) -> None:
        waiters = [[future] for _, future in files] + list(dirs.values())
        for futures, error in zip(waiters, errors, strict=True):
            for future in futures:
                settle(future, error)


def _error_of(sync: Callable[[Any], None], arg: Any) -> OSError | None:
    try:
        sync(arg)
    except OSError as e:
        return e
    return None
