"""Helpers shared by the queue, cleanup and delivery tests: a config in a temp dir, a mail log
captured to a file, and a queue manager run until the queue is quiet."""

from __future__ import annotations

import asyncio
import os
import pwd
import time
from pathlib import Path

from affix import log
from affix.cleanup.service import Cleanup
from affix.config.snapshot import Config, load_config
from affix.qmgr.manager import QueueManager
from affix.queue.envelope import Envelope, Recipient
from affix.queue.store import QueueStore

USER = pwd.getpwuid(os.geteuid()).pw_name
HOST = "mx.example.test"


def make_config(tmp: Path, extra: str = "") -> Config:
    (tmp / "etc").mkdir(exist_ok=True)
    (tmp / "etc" / "main.cf").write_text(
        f"myhostname = {HOST}\n"
        "mydestination = $myhostname, localhost, example.test\n"
        f"queue_directory = {tmp}/queue\n"
        f"data_directory = {tmp}/data\n"
        f"mail_spool_directory = {tmp}/mail/\n"
        f"maillog_file = {tmp}/maillog\n"
        "alias_maps =\n"
        "minimal_backoff_time = 1s\n"
        "maximal_backoff_time = 1s\n"
        "queue_run_delay = 1s\n"
        "affix_incoming_poll_time = 1s\n"
        "deliver_lock_delay = 0s\n"
        + extra)
    return load_config(str(tmp / "etc"))


def use_log(tmp: Path) -> Path:
    path = tmp / "maillog"
    log.set_log(log.MailLog(hostname="mx", path=str(path)))
    return path


def read_log(tmp: Path) -> str:
    path = tmp / "maillog"
    return path.read_text() if path.exists() else ""


def store_for(cfg: Config) -> QueueStore:
    return QueueStore(cfg.get("queue_directory"), cfg.bool("enable_long_queue_ids"))


def envelope(sender: str, *rcpts: str, arrival: float | None = None) -> Envelope:
    return Envelope(sender, [Recipient(r) for r in rcpts],
                    arrival=time.time() if arrival is None else arrival,
                    client_name="client.example.org", client_addr="192.0.2.7",
                    helo="client.example.org", protocol="ESMTP")


def message(subject: str = "test", body: str = "hello\n", extra: str = "") -> bytes:
    return (f"Received: from client.example.org (client.example.org [192.0.2.7])\n"
            f"\tby {HOST} (affix) with ESMTP id X\n"
            f"Message-Id: <{subject.replace(' ', '.')}@example.org>\n"
            f"From: a@example.org\nSubject: {subject}\n{extra}\n{body}").encode()


async def queue_message(cfg: Config, env: Envelope, content: bytes) -> str:
    cleanup = Cleanup(cfg, store_for(cfg))
    qf = cleanup.open()
    reply = await cleanup.finish(qf, env, content)
    assert reply.code == 250, reply
    return qf.queue_id


def _quiet(store: QueueStore, manager: QueueManager, include_deferred: bool) -> bool:
    queues = ("incoming", "active") + (("deferred",) if include_deferred else ())
    return manager.idle() and not any(list(store.iterate(q)) for q in queues)


async def run_qmgr(cfg: Config, *, until_empty: bool = True, timeout: float = 15.0,
                   settle: float = 0.3) -> QueueManager:
    """Run a queue manager until incoming and active (and, with until_empty, deferred) are
    empty, or timeout passes; then stop it."""
    store = store_for(cfg)
    cleanup = Cleanup(cfg, store)
    manager = QueueManager(cfg, store, cleanup=cleanup)
    cleanup.notify = manager.wake
    task = asyncio.create_task(manager.run())
    deadline = time.monotonic() + timeout
    await asyncio.sleep(settle)
    while time.monotonic() < deadline and not _quiet(store, manager, until_empty):
        await asyncio.sleep(0.05)
    await manager.stop()
    await task
    return manager


def run(coro):
    return asyncio.run(coro)


def maildir_files(tmp: Path, user: str = USER) -> list[Path]:
    new = tmp / "mail" / user / "new"
    return sorted(new.iterdir()) if new.exists() else []
