"""Queue managers of several processes (affix_workers > 1) keep out of each other's way: a
message is worked on by whoever holds the exclusive flock on its file (store.claim), a worker's
queue manager delivers only what its own cleanup announces, and the master's takes over what a
dead process left in active once the kernel has dropped that process's lock."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from affix.cleanup.service import Cleanup
from affix.qmgr.manager import QueueManager
from fixtures.net import wait_for
from fixtures.qhelp import (
    USER,
    envelope,
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

# another process's queue manager, as far as the lock goes: holds the file until killed
_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def _hold(path: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, path], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    return proc


def test_a_message_another_process_holds_in_active_is_left_until_that_process_dies(tmp_path):
    cfg = make_config(tmp_path)
    log_path = use_log(tmp_path)
    store = store_for(cfg)
    qid = run(queue_message(cfg, envelope("a@example.org", RCPT), message("held")))
    store.move(qid, "incoming", "active")
    holder = _hold(store.path("active", qid))

    async def go() -> None:
        manager = QueueManager(cfg, store)
        task = asyncio.create_task(manager.run())
        await asyncio.sleep(1.0)  # its start-up look at active, and a pass or two
        assert list(store.iterate("active")) == [qid]
        assert maildir_files(tmp_path) == []
        holder.kill()  # the worker dies: the kernel drops its lock
        await asyncio.to_thread(holder.wait)
        manager.orphans()
        await asyncio.to_thread(wait_for, lambda: f"{qid}: removed" in log_path.read_text())
        await manager.stop()
        await task

    try:
        run(go())
    finally:
        holder.kill()
    assert len(maildir_files(tmp_path)) == 1
    assert f"warning: {qid}: delivery was interrupted" in read_log(tmp_path)


def test_an_incoming_message_another_queue_manager_claimed_is_not_taken(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    store = store_for(cfg)
    qid = run(queue_message(cfg, envelope("a@example.org", RCPT), message("claimed")))
    holder = _hold(store.path("incoming", qid))
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
