"""A real smtpd on loopback (in a background event loop), raw and smtplib clients, a capturing
mail log, and real collaborators: the real cleanup on a queue store under the test's tmp dir
and a scripted policy engine."""

from __future__ import annotations

import asyncio
import io
import os
import threading
from pathlib import Path

import pytest
from smtpd_helpers import Client, RecordingCleanup

from affix import log
from affix.config.snapshot import load_config
from affix.queue.store import QueueStore
from affix.smtpd.server import SessionContext, SmtpService
from fixtures.net import wait_for


def _new_loop() -> asyncio.AbstractEventLoop:
    """AFFIX_TEST_UVLOOP=1 runs the server on uvloop, as production does."""
    if os.environ.get("AFFIX_TEST_UVLOOP") == "1":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class Server:
    def __init__(self, tmp_path: Path, maincf: str, **ctx: object):
        # mynetworks is set empty: its computed default (this host's addresses) would make
        # the 127.0.0.1 test client trusted.
        (tmp_path / "main.cf").write_text("myhostname = mx.example.jp\n"
                                          "mynetworks =\n"
                                          "compatibility_level = 3.7\n"
                                          "smtpd_error_sleep_time = 0\n" + maincf)
        self.cfg = load_config(str(tmp_path))
        overrides = ctx.pop("overrides", None)
        if overrides:
            self.cfg = self.cfg.with_overrides(overrides)  # type: ignore[arg-type]
        self.stream = io.StringIO()
        if ctx.get("tables") == "auto":
            from affix.tables import TableCache

            ctx["tables"] = TableCache(self.cfg)
        self.cleanup = RecordingCleanup(self.cfg, QueueStore(str(tmp_path / "queue")))
        self.ctx = SessionContext(self.cfg, cleanup=self.cleanup, **ctx)  # type: ignore[arg-type]
        self.loop = _new_loop()
        self.service = SmtpService("smtp", "127.0.0.1", 0, lambda: self.ctx)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> Server:
        log.set_log(log.MailLog(stream=self.stream, hostname="mx"))
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.service.start(), self.loop).result(5)
        self.port = self.service.bound_port
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            self.service.stop_listening()
            await self.service.drain(1)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def queue_id(self, n: int = 0) -> str:
        """The id of the n-th queue file this server opened (first accepted RCPT)."""
        return self.cleanup.opened[n]

    def assert_queued(self, reply: str, n: int = 0) -> str:
        """`reply` is the 250 for the n-th queue file, and that file is committed on disk."""
        qid = self.queue_id(n)
        assert reply == f"250 2.0.0 Ok: queued as {qid}"
        assert self.cleanup.queued(qid), f"{qid} not committed in incoming/active/hold"
        return qid

    def client(self, greet: bool = True) -> Client:
        c = Client(self.port)
        if greet:
            assert c.reply().startswith("220 ")
        return c

    @property
    def log(self) -> str:
        return self.stream.getvalue()

    def wait_log(self, text: str, timeout: float = 5.0) -> str:
        """The first log line containing `text`, waiting for it (sessions log as they end)."""
        return wait_for(lambda: next((ln for ln in self.log.splitlines() if text in ln), None),
                        timeout, lambda: f"a log line with {text!r} in:\n{self.log}")


@pytest.fixture
def smtpd(tmp_path):
    """smtpd(maincf="...", policy=..., tables=...) starts a server; stopped at teardown."""
    servers: list[Server] = []

    def make(maincf: str = "", **ctx: object) -> Server:
        server = Server(tmp_path, maincf, **ctx).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
