"""Group commit: concurrent sessions make their queue files durable together.

Every accepted message needs its queue file fsynced and then the incoming directory fsynced
before the 250 ("250 means on disk", design.md). Done one message at a time, that is a
directory fsync and a thread hop per message. Here a session hands its file to the committer
and waits; one worker thread takes everything waiting, writes and fsyncs each file, then
fsyncs the directory once for all of them (store.commit_many), and only then are the waiting
sessions released. A file handed in while a batch is in flight waits for the next batch: the
directory fsync of a batch may have started before that file's name existed, so it cannot
count for it. Nobody is ever released before its own file and the directory fsync that
followed its link are done.
"""

from __future__ import annotations

import asyncio

from affix.queue.store import QueueFile, QueueStore


class GroupCommit:
    def __init__(self, store: QueueStore):
        self.store = store
        self._waiting: list[tuple[QueueFile, bytes, asyncio.Future[None]]] = []
        self._running = False

    async def commit(self, qf: QueueFile, data: bytes) -> None:
        """Write `data` as the file's content and make it durable; raises OSError on a write
        or sync failure (the file is then the caller's to abandon)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((qf, data, future))
        if not self._running:
            self._running = True
            asyncio.ensure_future(self._run())
        await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    errors = await asyncio.to_thread(
                        self.store.commit_many, [(qf, data) for qf, data, _ in batch])
                except BaseException as e:  # noqa: BLE001 - every waiter must hear of it
                    errors = [e if isinstance(e, OSError) else OSError(str(e))] * len(batch)
                for (_, _, future), error in zip(batch, errors, strict=True):
                    if future.done():
                        continue
                    if error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(error)
        finally:
            self._running = False
