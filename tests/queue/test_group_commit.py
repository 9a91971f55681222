"""Group commit (queue/commit.py): sessions share directory fsyncs, and none is released before
its own file and a directory fsync made after its file's name existed are done.

The real fsyncs run; os.fsync is only wrapped to record which file (inode) each one was for,
and each release is checked against the files on disk at that moment.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading

from affix.queue import qfile
from affix.queue.commit import GroupCommit
from affix.queue.envelope import Envelope, Recipient
from affix.queue.store import QueueStore
from affix.smtpd import eager


def _record_fsyncs(monkeypatch) -> list[tuple[str, int]]:
    events: list[tuple[str, int]] = []
    lock = threading.Lock()
    real = os.fsync

    def fsync(fd: int) -> None:
        inode = os.fstat(fd).st_ino
        real(fd)
        with lock:
            events.append(("fsync", inode))

    monkeypatch.setattr(os, "fsync", fsync)
    return events


def _data(n: int, queue_id: str) -> bytes:
    env = Envelope(sender="a@example.org", recipients=[Recipient(f"r{n}@example.jp")])
    return qfile.encode(queue_id, env, f"Subject: {n}\n\nbody {n}\n".encode())


def test_no_session_is_released_before_its_file_and_directory_are_synced(tmp_path,
                                                                          monkeypatch):
    store = QueueStore(str(tmp_path / "queue"))
    store.ensure_dirs()
    incoming = os.path.join(store.root, "incoming")
    events = _record_fsyncs(monkeypatch)
    committer = GroupCommit(store)

    async def session(n: int) -> None:
        await asyncio.sleep(0.001 * (n % 7))  # arrivals spread over several batches
        qf = store.create()
        data = _data(n, qf.queue_id)
        await committer.commit(qf, data)
        # what the disk holds when the 250 would go out
        with open(qf.path, "rb") as f:
            assert f.read() == data
        assert os.stat(qf.path).st_mode & 0o777 == 0o700
        assert qf.queue_id in set(store.iterate("incoming"))
        events.append(("ack", os.stat(qf.path).st_ino))

    async def main() -> None:
        await asyncio.gather(*(session(n) for n in range(40)))

    asyncio.run(main())
    acks = [i for i, (kind, _) in enumerate(events) if kind == "ack"]
    assert len(acks) == 40
    dir_syncs = [i for i, e in enumerate(events) if e == ("fsync", os.stat(incoming).st_ino)]
    for ack in acks:
        inode = events[ack][1]
        file_sync = events.index(("fsync", inode))
        assert file_sync < ack
        assert any(file_sync < d < ack for d in dir_syncs), inode
    assert len(dir_syncs) < 40  # sessions did share directory fsyncs


def test_a_failed_file_fails_alone(tmp_path):
    store = QueueStore(str(tmp_path / "queue"))
    committer = GroupCommit(store)

    async def main() -> list[BaseException | None]:
        good = store.create()
        bad = store.create()
        os.close(bad.fd)  # its writes fail (EBADF)
        results = await asyncio.gather(committer.commit(good, _data(1, good.queue_id)),
                                       committer.commit(bad, _data(2, bad.queue_id)),
                                       return_exceptions=True)
        assert good.fd == -1  # closed once durable
        return results

    ok, failed = asyncio.run(main())
    assert ok is None
    assert isinstance(failed, OSError)
    assert len(list(store.iterate("incoming"))) == 1


def _finishes_without_waiting(committer: GroupCommit, store: QueueStore, n: int) -> bool:
    """Whether one commit completed on the loop, without handing work to the thread."""
    async def one() -> bool:
        qf = store.create()
        finished, value = eager.start(committer.commit(qf, _data(n, qf.queue_id)))
        if not finished:
            await value
        return finished

    return asyncio.run(one())


def test_fast_storage_is_written_on_the_loop_and_slow_storage_on_the_thread(tmp_path,
                                                                          monkeypatch):
    # the queue on tmpfs where there is one: its fsyncs cost less than a thread hop
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else str(tmp_path)
    store = QueueStore(os.path.join(shm, f"affix-test-{os.getpid()}-{tmp_path.name}"))
    try:
        committer = GroupCommit(store)
        inline = [_finishes_without_waiting(committer, store, n) for n in range(60)]
        assert not inline[0]  # it starts on the thread, until it has seen the storage
        assert inline[-1]
        real = os.fsync

        def slow_fsync(fd: int) -> None:  # a disk that takes 20 ms per sync
            threading.Event().wait(0.02)
            real(fd)

        monkeypatch.setattr(os, "fsync", slow_fsync)
        after = [_finishes_without_waiting(committer, store, n) for n in range(3)]
        assert after == [True, False, False]  # one slow sync on the loop, then the thread
        ids = list(store.iterate("incoming"))
        assert len(ids) == 63
        for queue_id in ids:  # every one complete and readable
            assert store.read("incoming", queue_id).envelope.sender == "a@example.org"
    finally:
        shutil.rmtree(store.root, ignore_errors=True)


def test_a_file_abandoned_during_the_sync_fails_alone(tmp_path, monkeypatch):
    store = QueueStore(str(tmp_path / "queue"))
    committer = GroupCommit(store)  # a committer new to its storage syncs on the thread
    incoming = os.stat(tmp_path).st_ino  # placeholder, replaced once the queue exists
    real = os.fsync
    at_dir, release = threading.Event(), threading.Event()

    def fsync(fd: int) -> None:
        if os.fstat(fd).st_ino == incoming:  # the directory: hold it there
            at_dir.set()
            release.wait(5)
        real(fd)

    async def main() -> list[BaseException | None]:
        nonlocal incoming
        a, b = store.create(), store.create()
        incoming = os.stat(os.path.join(store.root, "incoming")).st_ino
        monkeypatch.setattr(os, "fsync", fsync)
        both = asyncio.gather(committer.commit(a, _data(1, a.queue_id)),
                              committer.commit(b, _data(2, b.queue_id)),
                              return_exceptions=True)
        while not at_dir.is_set():
            await asyncio.sleep(0.001)
        store.abandon(a)  # its files synced, then given up (e.g. by a failing session)
        release.set()
        return await both

    failed, ok = asyncio.run(main())
    assert isinstance(failed, OSError)
    assert ok is None
    assert len(list(store.iterate("incoming"))) == 1
