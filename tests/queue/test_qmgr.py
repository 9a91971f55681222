import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from affix import log
from affix.cleanup.service import Cleanup
from affix.delivery.agent import outcome_for
from affix.qmgr.manager import QueueManager
from affix.queue import qfile
from fixtures.processes import affix_env
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

_WRITER = """
import os, sys, time
from affix.cleanup.service import Cleanup
from affix.config.snapshot import load_config
from affix.queue.envelope import Envelope, Recipient
from affix.queue.store import QueueStore
cfg = load_config(sys.argv[1])
n, kill_at, point, rcpt = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
store = QueueStore(cfg.get("queue_directory"))
cleanup = Cleanup(cfg, store)
for i in range(n):
    qf = store.create()
    env = Envelope("a@example.org", [Recipient(rcpt)], arrival=time.time())
    prepared = cleanup.prepare(qf.queue_id, env, f"Subject: msg {i}\\n\\nbody\\n".encode(), "smtp")
    store.write(qf, prepared.data)
    if i == kill_at and point == "written":
        os.kill(os.getpid(), 9)
    store.commit(qf)
    print(f"ACK {i} {qf.queue_id}", flush=True)  # the 250 the client would get
    if i == kill_at and point == "committed":
        os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize("point", ["written", "committed"])
def test_crash_loses_no_acknowledged_message_and_delivers_no_unacknowledged(tmp_path, point):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    proc = subprocess.run([sys.executable, "-c", _WRITER, str(tmp_path / "etc"), "6", "3",
                           point, RCPT], capture_output=True, text=True, env=affix_env(),
                          timeout=60)
    assert proc.returncode == -signal.SIGKILL
    acked = {int(line.split()[1]) for line in proc.stdout.splitlines()}
    assert acked == ({0, 1, 2, 3} if point == "committed" else {0, 1, 2})
    incoming = list((tmp_path / "queue" / "incoming").iterdir())
    assert len(incoming) == 4  # the killed writer's file is there, complete or not
    run(run_qmgr(cfg))
    subjects = sorted(int(re.search(rb"Subject: msg (\d+)", f.read_bytes()).group(1))
                      for f in maildir_files(tmp_path))
    assert subjects == sorted(acked)  # each acknowledged message exactly once, nothing else
    assert list((tmp_path / "queue" / "incoming").iterdir()) == []


def test_messages_left_in_active_are_delivered_after_a_restart(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    store = store_for(cfg)
    qid = run(queue_message(cfg, envelope("a@example.org", RCPT, "nobody-x@example.test"),
                            message("resume")))
    store.move(qid, "incoming", "active")
    msg = store.read("active", qid)
    store.mark("active", msg, 1, qfile.DELIVERED)  # this one was done before the crash
    run(run_qmgr(cfg))
    assert len(maildir_files(tmp_path)) == 1
    text = read_log(tmp_path)
    assert f"{qid}: from=<a@example.org>, size=" in text and "nrcpt=1 (queue active)" in text
    assert "nobody-x" not in text
    assert f"{qid}: removed" in text


def test_held_message_is_not_delivered_until_released(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    store = store_for(cfg)
    qid = run(queue_message(cfg, envelope("a@example.org", RCPT), message("held")))
    store.move(qid, "incoming", "hold")
    run(run_qmgr(cfg, settle=1.2))
    assert maildir_files(tmp_path) == []
    assert list(store.iterate("hold")) == [qid]
    store.move(qid, "hold", "deferred", mtime=time.time())
    run(run_qmgr(cfg))
    assert len(maildir_files(tmp_path)) == 1


def test_deferred_message_waits_for_its_next_attempt_time(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    store = store_for(cfg)
    qid = run(queue_message(cfg, envelope("a@example.org", RCPT), message("later")))
    store.move(qid, "incoming", "deferred", mtime=time.time() + 3600)

    async def go():
        from affix.cleanup.service import Cleanup
        from affix.qmgr.manager import QueueManager
        manager = QueueManager(cfg, store, cleanup=Cleanup(cfg, store))
        manager._flush = False  # a normal scan, not a flush
        import asyncio
        task = asyncio.create_task(manager.run())
        await asyncio.sleep(0.5)
        assert maildir_files(tmp_path) == []
        manager.flush()  # affix flush: every deferred message is due now
        for _ in range(100):
            if maildir_files(tmp_path):
                break
            await asyncio.sleep(0.05)
        await manager.stop()
        await task
    run(go())
    assert len(maildir_files(tmp_path)) == 1


def test_backoff_is_clamped_between_minimal_and_maximal():
    from affix.qmgr.manager import backoff
    assert backoff(10, 300, 4000) == 300
    assert backoff(1000, 300, 4000) == 1000
    assert backoff(100000, 300, 4000) == 4000


def _qmgr_on_damaged_file(tmp_path, damage) -> str:
    """Queue a message, let `damage(path)` change its file, run the queue manager; the file
    must end up in corrupt. Returns the queue id."""
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    store = store_for(cfg)
    qid = run(queue_message(cfg, envelope("a@example.org", RCPT), message("damaged")))
    damage(store.path("incoming", qid))
    run(run_qmgr(cfg))
    assert list(store.iterate("corrupt")) == [qid]
    return qid


def test_corrupt_queue_file_is_moved_aside(tmp_path):
    def truncate(path):
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[:-10])

    _qmgr_on_damaged_file(tmp_path, truncate)
    assert "torn queue file" in read_log(tmp_path)


def test_a_damaged_recipient_status_byte_moves_the_file_aside(tmp_path):
    """Status bytes are outside the CRC (they change in place): one that is neither pending
    nor done must not drop its recipient silently."""
    def flip_status(path):
        with open(path, "r+b") as f:
            f.seek(f.read().index(b"\nR -") + 3)
            f.write(b"X")

    qid = _qmgr_on_damaged_file(tmp_path, flip_status)
    assert f"{qid}: torn queue file (bad recipient status b'X')" in read_log(tmp_path)


@pytest.mark.skipif(shutil.which("pflogsumm") is None and not os.path.exists(
    "/usr/sbin/pflogsumm"), reason="pflogsumm not installed")
def test_pflogsumm_counts_received_and_delivered(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)

    async def go():
        for i in range(3):
            from affix.cleanup.service import Cleanup
            cleanup = Cleanup(cfg, store_for(cfg))
            qf = cleanup.open()
            log.client_queued(qf.queue_id, "client.example.org[192.0.2.7]")
            await cleanup.finish(qf, envelope("a@example.org", RCPT), message(f"m{i}"))
        await queue_message(cfg, envelope(RCPT, "nobody-x@example.test"), message("bounce"))
        await run_qmgr(cfg)
    run(go())
    tool = shutil.which("pflogsumm") or "/usr/sbin/pflogsumm"
    out = subprocess.run([tool, str(tmp_path / "maillog")], capture_output=True, text=True,
                         timeout=60).stdout
    assert re.search(r"^\s+3\s+received$", out, re.M), out
    assert re.search(r"^\s+4\s+delivered$", out, re.M), out  # 3 + the bounce notice
    assert re.search(r"^\s+1\s+bounced$", out, re.M), out


def test_a_file_its_writer_still_holds_is_left_until_it_is_durable(tmp_path):
    # incoming files are marked complete just before their fsync (queue/store.py): the queue
    # manager must not take one while its writer still has it
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    store = store_for(cfg)
    qf = store.create()
    env = envelope("a@example.org", RCPT)
    items = [(qf, qfile.encode(qf.queue_id, env, message("held")))]
    assert store.write_many(items) == [None]  # written and marked, not yet synced
    run(run_qmgr(cfg, timeout=1.5))
    assert list(store.iterate("incoming")) == [qf.queue_id]
    assert maildir_files(tmp_path) == []
    store.finish_many(items, store.sync_many(items, [None]))
    run(run_qmgr(cfg))
    assert len(maildir_files(tmp_path)) == 1


class _DeferOnceAgent:
    """A delivery agent whose first attempt defers, while a flush (ETRN, `affix flush`)
    arrives in the middle of it (unless `flushes` is False); later attempts deliver."""

    name = "local"

    def __init__(self, flushes: bool = True) -> None:
        self.manager = None
        self.attempts = 0
        self.flushes = flushes

    def destination(self, recipient: str) -> str:
        return recipient

    def concurrency(self) -> int:
        return 1

    async def deliver(self, request):  # noqa: ANN001, ANN201 - the Agent protocol's
        self.attempts += 1
        if self.attempts == 1:
            if self.flushes:
                self.manager.flush()
            return [outcome_for(request.recipient.address, "4.2.0", "try again later")]
        return [outcome_for(request.recipient.address, "2.0.0", "delivered")]


@pytest.mark.parametrize("when", ["during the delivery", "during the move to deferred"])
def test_a_flush_during_an_attempt_retries_that_message_too(tmp_path, monkeypatch, when):
    cfg = make_config(tmp_path, "minimal_backoff_time = 1h\nmaximal_backoff_time = 1h\n"
                                "queue_run_delay = 1h\n")
    use_log(tmp_path)
    store = store_for(cfg)
    agent = _DeferOnceAgent(flushes=when == "during the delivery")
    if when == "during the move to deferred":  # its pass over deferred cannot see it yet
        real_move = store.move

        def move(qid, src, dst, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
            if dst == "deferred":
                agent.manager.flush()
            real_move(qid, src, dst, *args, **kw)

        monkeypatch.setattr(store, "move", move)

    async def go() -> None:
        await queue_message(cfg, envelope("a@example.org", RCPT), message("flush"))
        manager = QueueManager(cfg, store, {"local": agent}, Cleanup(cfg, store))
        agent.manager = manager
        task = asyncio.create_task(manager.run())
        for _ in range(100):
            if agent.attempts >= 2 and manager.idle():
                break
            await asyncio.sleep(0.05)
        await manager.stop()
        await task

    run(go())
    assert agent.attempts == 2  # not an hour later: the flush covered it
    assert not any(list(store.iterate(q)) for q in ("incoming", "active", "deferred"))
