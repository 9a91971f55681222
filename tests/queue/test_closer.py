"""queue/closer.py: a removed queue file's last close, on the loop while quick, else on a
thread; and the queue manager closes every file it removed."""

import asyncio
import os
import threading

from affix.offload import Offload
from affix.qmgr import manager as manager_module
from affix.queue import store as store_module
from affix.queue.closer import Closer
from fixtures.qhelp import (
    USER,
    envelope,
    maildir_files,
    make_config,
    message,
    queue_message,
    run,
    run_qmgr,
    use_log,
)


def _open_files(tmp_path, n: int) -> list[int]:
    fds = []
    for i in range(n):
        path = tmp_path / f"f{i}"
        fds.append(os.open(path, os.O_RDWR | os.O_CREAT))
        os.unlink(path)
    return fds


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_a_quick_close_is_made_at_once_on_the_loop(tmp_path):
    fd, = _open_files(tmp_path, 1)
    closer = Closer(Offload(None))

    async def go() -> None:
        closer.close(fd)
        assert not _is_open(fd)

    asyncio.run(go())


def test_slow_closes_go_to_a_thread_in_batches_and_all_happen(tmp_path, monkeypatch):
    fds = _open_files(tmp_path, 10)
    threads: list[str] = []
    real = os.close

    def close(fd: int) -> None:
        threads.append(threading.current_thread().name)
        real(fd)

    monkeypatch.setattr(os, "close", close)
    closer = Closer(Offload(0.0))  # slow: always the thread

    async def go() -> None:
        for fd in fds:
            closer.close(fd)
        while any(_is_open(fd) for fd in fds):
            await asyncio.sleep(0.01)

    asyncio.run(go())
    assert len(threads) == 10
    assert threading.main_thread().name not in threads


def test_more_waiting_than_the_limit_closes_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(Closer, "MAX_WAITING", 0)
    fd, = _open_files(tmp_path, 1)
    closer = Closer(Offload(0.0))

    async def go() -> None:
        closer.close(fd)
        assert not _is_open(fd)

    asyncio.run(go())


def test_the_queue_manager_closes_every_file_it_removed(tmp_path, monkeypatch):
    # no spares kept: every delivered file is removed, its last close made on a thread
    monkeypatch.setattr(store_module, "SPARE_MAX", 0)
    monkeypatch.setattr(manager_module, "Closer", lambda offload: Closer(Offload(0.0)))
    cfg = make_config(tmp_path)
    use_log(tmp_path)

    def queue_files_open() -> list[str]:
        names = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                names.append(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                continue
        return [n for n in names if n.startswith(str(tmp_path / "queue"))]

    async def go() -> list[str]:
        for n in range(5):
            await queue_message(cfg, envelope("a@example.org", f"{USER}@example.test"),
                                message(f"m{n}"))
        await run_qmgr(cfg)
        await asyncio.sleep(0.2)  # the thread's batch
        return queue_files_open()

    assert run(go()) == []
    assert os.listdir(tmp_path / "queue" / "active") == []
    assert os.listdir(tmp_path / "queue" / "spare") == []
    assert len(maildir_files(tmp_path)) == 5
