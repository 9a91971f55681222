"""Queue managers of several processes (affix_workers > 1) keep out of each other's way: a
message is worked on by whoever holds the exclusive flock on its file (store.claim), a worker's
queue manager delivers only what its own cleanup announces, and the master's takes over what a
dead process left in active once the kernel has dropped that process's lock."""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import time
from collections.abc import Callable

import pytest

from affix.cleanup.service import Cleanup
from affix.delivery.agent import outcome_for
from affix.qmgr.manager import QueueManager
from affix.queue import store as store_module
from fixtures.net import wait_for
from fixtures.qhelp import (
    USER,
    envelope,
    holding,
    maildir_files,
    make_config,
    message,
    queue_message,
    read_log,
    run,
    run_qmgr,
    store_for,
    use_log,
)

RCPT = f"{USER}@example.test"

def _run_until_released(cfg, holder: subprocess.Popen[str], qid: str, log_path, settle: float,
                        held: Callable[[], None],
                        released: Callable[[QueueManager], None] = lambda manager: None,
                        timeout: float = 30.0) -> None:
    """Run a queue manager for `settle` seconds while HOLDER holds QID's file (held() checks
    what it left alone), then end the holder (released(manager) follows) and wait until QID
    is delivered and removed."""
    store = store_for(cfg)

    async def go() -> None:
        manager = QueueManager(cfg, store)
        task = asyncio.create_task(manager.run())
        await asyncio.sleep(settle)
        held()
        holder.kill()
        await asyncio.to_thread(holder.wait)
        released(manager)
        await asyncio.to_thread(wait_for, lambda: f"{qid}: removed" in log_path.read_text(),
                                timeout)
        await manager.stop()
        await task

    try:
        run(go())
    finally:
        holder.kill()


def test_a_message_another_process_holds_in_active_is_left_until_that_process_dies(tmp_path):
    cfg = make_config(tmp_path)
    log_path = use_log(tmp_path)
    store = store_for(cfg)
    qid = run(queue_message(cfg, envelope("a@example.org", RCPT), message("held")))
    store.move(qid, "incoming", "active")
    holder = holding(store.path("active", qid))

    def held() -> None:  # after its start-up look at active, and a pass or two
        assert list(store.iterate("active")) == [qid]
        assert maildir_files(tmp_path) == []

    # the worker dies: the kernel drops its lock, and the master hears of it
    _run_until_released(cfg, holder, qid, log_path, 1.0, held, QueueManager.orphans)
    assert len(maildir_files(tmp_path)) == 1
    assert f"warning: {qid}: delivery was interrupted" in read_log(tmp_path)


def test_an_incoming_message_another_queue_manager_claimed_is_not_taken(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    store = store_for(cfg)
    qid = run(queue_message(cfg, envelope("a@example.org", RCPT), message("claimed")))
    holder = holding(store.path("incoming", qid))
    try:
        run(run_qmgr(cfg, timeout=1.5))
        assert list(store.iterate("incoming")) == [qid]
        assert maildir_files(tmp_path) == []
    finally:
        holder.kill()
        holder.wait()
    run(run_qmgr(cfg))
    assert len(maildir_files(tmp_path)) == 1


def test_a_workers_queue_manager_delivers_what_it_is_told_and_passes_flushes_on(tmp_path):
    cfg = make_config(tmp_path)
    log_path = use_log(tmp_path)
    store = store_for(cfg)
    # queued by somebody else (another worker, `affix sendmail`): the master's to find
    other = run(queue_message(cfg, envelope("a@example.org", RCPT), message("other")))
    flushes: list[str] = []

    async def go() -> str:
        cleanup = Cleanup(cfg, store)
        manager = QueueManager(cfg, store, cleanup=cleanup,
                               flush_master=lambda: flushes.append("flush"))
        cleanup.notify = manager.wake
        task = asyncio.create_task(manager.run())
        await asyncio.sleep(0.1)
        own = await queue_message_with(cleanup)
        await asyncio.to_thread(wait_for, lambda: f"{own}: removed" in log_path.read_text())
        manager.flush()
        await asyncio.sleep(1.5)  # past affix_incoming_poll_time: a scan would have run
        await manager.stop()
        await task
        return own

    own = run(go())
    assert flushes == ["flush"]
    assert len(maildir_files(tmp_path)) == 1
    assert list(store.iterate("incoming")) == [other]
    assert f"{other}: removed" not in read_log(tmp_path)
    assert f"{own}: removed" in read_log(tmp_path)


async def queue_message_with(cleanup: Cleanup) -> str:
    qf = cleanup.open()
    reply = await cleanup.finish(qf, envelope("a@example.org", RCPT), message("own"))
    assert reply.code == 250, reply
    return qf.queue_id


def test_a_claim_on_a_file_its_holder_moved_on_meanwhile_is_no_claim(tmp_path, monkeypatch):
    # the master's look at active opens active/X; before its lock, a worker defers X and
    # lets it go: the lock it then gets is on a message that is no longer in active
    cfg = make_config(tmp_path)
    store = store_for(cfg)
    qid = run(queue_message(cfg, envelope("a@example.org", RCPT), message("moved")))
    store.move(qid, "incoming", "active")
    real_flock = store_module.fcntl.flock

    def moved_first(fd: int, op: int) -> None:
        if op & fcntl.LOCK_NB and os.path.exists(store.path("active", qid)):
            store.move(qid, "active", "deferred")
        real_flock(fd, op)

    monkeypatch.setattr(store_module.fcntl, "flock", moved_first)
    with pytest.raises(FileNotFoundError):
        store.claim("active", qid)
    monkeypatch.undo()
    fd, msg = store.claim("deferred", qid)
    os.close(fd)
    assert msg.queue_id == qid


def test_a_flush_during_a_workers_attempt_reaches_the_master_after_the_deferral(tmp_path):
    cfg = make_config(tmp_path, "minimal_backoff_time = 1h\nmaximal_backoff_time = 1h\n")
    use_log(tmp_path)
    store = store_for(cfg)
    flushes: list[float] = []

    async def go() -> str:
        cleanup = Cleanup(cfg, store)
        agent = _DeferringAgent()
        manager = QueueManager(cfg, store, {"local": agent}, cleanup,
                               flush_master=lambda: flushes.append(time.time()))
        agent.manager = manager
        cleanup.notify = manager.wake
        task = asyncio.create_task(manager.run())
        qid = await queue_message_with(cleanup)
        await asyncio.to_thread(wait_for, lambda: list(store.iterate("deferred")) == [qid])
        await manager.stop()
        await task
        return qid

    qid = run(go())
    # once when the client asked, once the message was back in deferred, due now: the
    # master's pass for the first could not see it
    assert len(flushes) == 2
    assert store.next_attempt("deferred", qid) <= flushes[1]


class _DeferringAgent:
    """Defers every attempt; a flush (a client's ETRN) arrives in the middle of the first."""

    name = "local"
    manager: QueueManager | None = None

    def destination(self, recipient: str) -> str:
        return recipient

    def concurrency(self) -> int:
        return 1

    async def deliver(self, request):  # noqa: ANN001, ANN201 - the Agent protocol's
        assert self.manager is not None
        self.manager.flush()
        return [outcome_for(request.recipient.address, "4.2.0", "try again later")]


def test_a_due_message_a_worker_still_holds_stays_in_deferred_and_is_taken_soon(tmp_path):
    cfg = make_config(tmp_path, "queue_run_delay = 1h\n")
    log_path = use_log(tmp_path)
    store = store_for(cfg)
    qid = run(queue_message(cfg, envelope("a@example.org", RCPT), message("deferred")))
    store.move(qid, "incoming", "deferred", mtime=time.time() - 1)  # due
    holder = holding(store.path("deferred", qid))

    def held() -> None:  # its first pass over deferred found it held
        assert list(store.iterate("deferred")) == [qid]
        assert list(store.iterate("active")) == []

    # taken within seconds, not at the next pass an hour later
    _run_until_released(cfg, holder, qid, log_path, 0.5, held, timeout=5.0)
    assert len(maildir_files(tmp_path)) == 1
    assert "interrupted" not in read_log(tmp_path)


def test_steady_wake_ups_do_not_keep_the_master_from_looking_at_incoming(tmp_path):
    cfg = make_config(tmp_path, "queue_run_delay = 1h\n")
    log_path = use_log(tmp_path)
    store = store_for(cfg)

    async def go() -> str:
        manager = QueueManager(cfg, store)
        task = asyncio.create_task(manager.run())
        await asyncio.sleep(0.3)  # its start-up look at incoming is over
        # queued by `affix sendmail` or a stopping worker: nobody announces it
        quiet = await queue_message(cfg, envelope("a@example.org", RCPT), message("quiet"))
        for _ in range(20):  # a wake-up every 0.2 s, more often than the 1 s poll
            if f"{quiet}: removed" in log_path.read_text():
                break
            manager.wake("4A1B2C3D4E")  # an id whose file is gone already
            await asyncio.sleep(0.2)
        await manager.stop()
        await task
        return quiet

    quiet = run(go())
    assert f"{quiet}: removed" in read_log(tmp_path)


def test_a_stopped_queue_manager_hands_back_what_it_was_told_of_but_did_not_start(tmp_path):
    cfg = make_config(tmp_path)
    store = store_for(cfg)

    async def go() -> list[str]:
        manager = QueueManager(cfg, store, flush_master=lambda: None)
        manager.wake("4A1B2C3D4E")  # before it runs (a reload's new one): kept
        return await manager.stop()

    assert run(go()) == ["4A1B2C3D4E"]


def test_the_claim_records_the_deliveries_without_opening_the_file_again(tmp_path,
                                                                        monkeypatch):
    # the claim's descriptor is open for writing: the status bytes go through it
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    queue_dir = str(tmp_path / "queue")
    opened: list[tuple[str, int]] = []
    real_open = os.open

    def recording_open(path, flags, *args, **kw):  # noqa: ANN001, ANN202 - os.open's own
        if str(path).startswith(queue_dir):
            opened.append((str(path), flags))
        return real_open(path, flags, *args, **kw)

    async def go() -> str:
        qid = await queue_message(cfg, envelope("a@example.org", RCPT), message("claim"))
        monkeypatch.setattr(os, "open", recording_open)
        await run_qmgr(cfg)
        return qid

    qid = run(go())
    assert len(maildir_files(tmp_path)) == 1
    of_message = [flags for path, flags in opened if path.endswith(qid)]
    assert len(of_message) == 1 and of_message[0] & os.O_ACCMODE == os.O_RDWR
