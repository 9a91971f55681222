"""The last close of a removed queue file: on the event loop while it is quick, else on a thread.

The queue manager holds each message's file open (its claim, store.claim) until the message
leaves `active`. When the file was removed rather than kept as a spare (store.py), that close
frees the inode and its blocks, which can wait for the device: on ext4 without a journal and
mounted with `discard`, the blocks are discarded there and then, measured at 1-3 ms (against
some 0.02 ms of CPU) while the disk was busy, 0.07 ms while it was not. A loop that waited that
long once per message whenever the spares are full (as when a backlog drains) would deliver (and,
in one process, serve SMTP) at a fraction of its pace. So these closes are timed like the rest
of the queue's file work (affix/offload.py): on the loop while they are quick; else on a thread,
every descriptor handed in while the last batch was closing in the next batch. Nothing waits
for them: the file has no name any more, so its lock guards nothing. While more than
MAX_WAITING wait, the caller's own close is made at once, as before, which keeps the open
descriptors in bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

from affix.offload import Offload


class Closer:
    MAX_WAITING = 64

    def __init__(self, offload: Offload):
        self.offload = offload
        self._fds: list[int] = []
        self._busy = False  # a batch is closing on the thread

    def close(self, fd: int) -> None:
        """Close `fd`, a removed file's (now or soon); call on the event loop."""
        if self.offload.on_loop() or len(self._fds) >= self.MAX_WAITING:
            self.offload.timed(os.close, fd)
            return
        self._fds.append(fd)
        if not self._busy:
            self._next()

    def _next(self) -> None:
        fds, self._fds = self._fds, []
        try:
            future = asyncio.get_running_loop().run_in_executor(None, self._close_all, fds)
        except RuntimeError:  # the loop is closing: no more threads
            self._close_all(fds)
            return
        self._busy = True
        future.add_done_callback(self._done)

    def _done(self, _: asyncio.Future[None]) -> None:
        self._busy = False
        if self._fds:
            self._next()

    def _close_all(self, fds: list[int]) -> None:
        for fd in fds:
            start = time.perf_counter()
            with contextlib.suppress(OSError):  # the descriptor is gone whatever close says
                os.close(fd)
            self.offload.note(time.perf_counter() - start)  # a quick disk brings it back
