"""Group commit: concurrent sessions make their queue files durable together.

Every accepted message needs its queue file fsynced and then the incoming directory fsynced
before the 250 ("250 means on disk", design.md). Done one message at a time, that is a
directory fsync and a thread hop per message. Here a session hands its file to the committer
and waits; the committer writes everything waiting (page cache only), then one worker thread
fsyncs each file and the directory once for all of them (store.sync_many), and only then are
the waiting sessions released. A file handed in while a batch is in flight waits for the
next batch: the directory fsync of a batch may have started before that file's name existed,
so it cannot count for it. Nobody is ever released before its own file and the directory
fsync that followed its link are done.

Storage that syncs fast (tmpfs, SSDs, disks with a power-safe write cache) is written on the
event loop itself: the thread, its wake-ups and the lock traffic between the two threads
would cost more than the syncs they keep off the loop. The committer times every batch and
moves between the two ways as the storage's speed changes; either way a 250 never precedes
its own fsyncs.
"""

from __future__ import annotations

import asyncio
import time

from affix.offload import Offload, settle
from affix.queue.store import QueueFile, QueueStore

# bytes of a thread-bound batch that the loop writes itself (more may wait for the disk)
LOOP_WRITES_UPTO = 65536

# seconds one commit may take on the loop. Above SESSIONS_LIMIT: on a busy box the same fast
# fsync takes 1-3 ms of wall time (the process waits for a CPU), which sent commits to the
# thread, whose hand-offs cost more CPU than the syncs. bench.e2e -w 2, 1 KB, three
# interleaved pairs of runs: affix's CPU per message at c=10 1.95/1.81/2.27 ms with 1 ms,
# 1.71/1.66/2.08 with 5 ms; at c=50 1.97/1.75/2.45 against 1.56/1.54/2.12. A disk whose
# syncs take longer (on average) still goes to the thread; other sessions wait meanwhile.
COMMIT_LIMIT = 0.005


class GroupCommit:
    def __init__(self, store: QueueStore):
        self.store = store
        self._waiting: list[tuple[QueueFile, bytes, asyncio.Future[None]]] = []
        self._running = False
        # On the loop while one commit costs under COMMIT_LIMIT. Measured on an SSD-backed
        # ext4 (fsync ~0.2 ms, a commit ~0.4 ms), 2 workers at c=10: 840-880 accepted msg/s
        # on the loop against 480-790 through the thread, with less CPU per message. On a
        # disk whose syncs take milliseconds, the thread's shared directory fsyncs win.
        self.offload = Offload(COMMIT_LIMIT)

    async def commit(self, qf: QueueFile, data: bytes) -> None:
        """Write `data` as the file's content and make it durable; raises OSError on a write
        or sync failure (the file is then the caller's to abandon)."""
        if self.offload.on_loop() and not self._running:
            error = self._timed([(qf, data)], None)[0]
            if error is not None:
                raise error
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((qf, data, future))
        if not self._running:
            self._running = True
            asyncio.ensure_future(self._run())
        await future

    def _timed(self, items: list[tuple[QueueFile, bytes]],
               written: list[OSError | None] | None) -> list[OSError | None]:
        """Commit `items` here (on the loop or the thread), timed: all of it, or, when the
        loop has written them (`written`: its per-item errors), only the fsyncs."""
        start = time.perf_counter()
        try:
            if written is None:
                return self.store.commit_many(items)
            return self.store.sync_many(items, written)
        finally:
            self._note_cost(time.perf_counter() - start, len(items))

    def _note_cost(self, seconds: float, files: int) -> None:
        # what one commit (a file's fsync and the directory's) took, from a batch's time
        self.offload.note(seconds * 2 / (files + 1))

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                items = [(qf, data) for qf, data, _ in batch]
                try:
                    if sum(len(data) for _, data in items) <= LOOP_WRITES_UPTO:
                        # to the page cache: done here; the thread only waits for the disk
                        written = self.store.write_many(items)
                        errors = await asyncio.to_thread(self._timed, items, written)
                        errors = self.store.finish_many(items, errors)
                    else:  # a write this large may itself wait for the disk (dirty limits)
                        errors = await asyncio.to_thread(self._timed, items, None)
                except BaseException as e:  # noqa: BLE001 - every waiter must hear of it
                    errors = [e if isinstance(e, OSError) else OSError(str(e))] * len(batch)
                for (_, _, future), error in zip(batch, errors, strict=True):
                    settle(future, error)
        finally:
            self._running = False
