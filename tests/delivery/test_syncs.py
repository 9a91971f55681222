"""delivery/syncs.py: the deliveries' fsyncs, on the loop while quick, else in shared rounds
on a thread; nobody is released by an fsync that started before it asked."""

import asyncio
import os
import threading
import time

import pytest

from affix.delivery.syncs import Syncs
from affix.offload import Offload


def _recording_fsync(monkeypatch, delay: float = 0.0) -> list[tuple[int, float, str]]:
    """os.fsync records (fd, when it started, the thread's name), after `delay` seconds."""
    calls: list[tuple[int, float, str]] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        calls.append((fd, time.monotonic(), threading.current_thread().name))
        time.sleep(delay)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def test_quick_fsyncs_run_on_the_loop_at_once(tmp_path, monkeypatch):
    calls = _recording_fsync(monkeypatch)
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    syncs = Syncs(Offload(None))

    async def go() -> dict[str, OSError]:
        await syncs.file(fd)
        assert len(calls) == 1  # before the first wait: no round, no thread
        return await syncs.dirs({str(tmp_path)})

    try:
        assert asyncio.run(go()) == {}
    finally:
        os.close(fd)
    assert {name for _, _, name in calls} == {threading.current_thread().name}
    assert len(calls) == 2


def test_slow_fsyncs_share_rounds_on_a_thread_each_started_after_its_waiter_asked(
        tmp_path, monkeypatch):
    calls = _recording_fsync(monkeypatch, delay=0.05)
    fds = [os.open(tmp_path / f"f{i}", os.O_WRONLY | os.O_CREAT) for i in range(6)]
    syncs = Syncs(Offload(0.0))  # the disk is slow: always the thread
    asked: dict[int, float] = {}

    async def sync(fd: int) -> None:
        asked[fd] = time.monotonic()
        await syncs.file(fd)

    async def go() -> None:
        first = asyncio.ensure_future(sync(fds[0]))
        await asyncio.sleep(0.01)  # its round is running now: the others wait for the next
        await asyncio.gather(first, *(sync(fd) for fd in fds[1:]))

    try:
        asyncio.run(go())
    finally:
        for fd in fds:
            os.close(fd)
    main = threading.current_thread().name
    assert all(name != main for _, _, name in calls)
    assert sorted(fd for fd, _, _ in calls) == sorted(fds)  # each file once
    for fd, started, _ in calls:
        assert started >= asked[fd]
    # two rounds: the first file's, then the five that asked while it ran, one after another
    starts = sorted(started for _, started, _ in calls)
    assert starts[1] - starts[0] >= 0.05


def test_a_failed_fsync_fails_its_own_waiter_only(tmp_path):
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    pipe_r, pipe_w = os.pipe()  # fsync fails on a pipe (EINVAL)
    syncs = Syncs(Offload(0.0))

    async def go() -> list[object]:
        return await asyncio.gather(syncs.file(fd), syncs.file(pipe_r),
                                    syncs.dirs({str(tmp_path), str(tmp_path / "gone")}),
                                    return_exceptions=True)

    try:
        ok, bad, dirs = asyncio.run(go())
    finally:
        for each in (fd, pipe_r, pipe_w):
            os.close(each)
    assert ok is None
    assert isinstance(bad, OSError)
    assert list(dirs) == [str(tmp_path / "gone")]


@pytest.mark.parametrize("limit", [None, 0.0])
def test_every_waiter_of_a_directory_is_released(tmp_path, limit):
    syncs = Syncs(Offload(limit))

    async def go() -> list[dict[str, OSError]]:
        return await asyncio.gather(*(syncs.dirs({str(tmp_path)}) for _ in range(5)))

    assert asyncio.run(go()) == [{}] * 5
