"""A real smtpd on loopback (in a background event loop), raw and smtplib clients, a capturing
mail log, and small real collaborators: an in-memory cleanup and a scripted policy engine."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from affix import log
from affix.config.snapshot import load_config
from affix.policy.request import SessionState, Stage, Verdict
from affix.queue.envelope import Envelope
from affix.reply import Reply
from affix.smtpd.server import SessionContext, SmtpService


@dataclass
class QueueFile:
    queue_id: str


@dataclass
class MemoryCleanup:
    """The cleanup interface, keeping finished messages in memory."""

    messages: list[tuple[Envelope, bytes]] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    counter: int = 0

    def open(self) -> QueueFile:
        self.counter += 1
        return QueueFile(f"ABCDE{self.counter:X}")

    async def finish(self, qf: QueueFile, envelope: Envelope, content: bytes) -> Reply:
        await asyncio.sleep(0)  # a real cleanup waits for fsync
        self.messages.append((envelope, content))
        return Reply(250, "2.0.0", f"Ok: queued as {qf.queue_id}")

    def abandon(self, qf: QueueFile) -> None:
        self.abandoned.append(qf.queue_id)


class ScriptedPolicy:
    """A PolicyEngine that records each stage and rejects the stages it is told to."""

    def __init__(self, rejects: dict[Stage, Reply] | None = None, delay: float = 0.0,
                 verdicts: dict[Stage, Verdict] | None = None):
        self.rejects = rejects or {}
        self.verdicts = verdicts or {}
        self.delay = delay
        self.calls: list[tuple[Stage, str | None]] = []

    async def check(self, stage: Stage, state: SessionState) -> Verdict:
        self.calls.append((stage, state.recipient))
        if self.delay:
            await asyncio.sleep(self.delay)
        if stage in self.rejects:
            return Verdict(reply=self.rejects[stage])
        return self.verdicts.get(stage, Verdict())

    @property
    def stages(self) -> list[Stage]:
        return [s for s, _ in self.calls]


class Client:
    """A raw SMTP client on a blocking socket."""

    def __init__(self, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.pending = b""

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _line(self) -> bytes:
        while b"\n" not in self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; pending {self.pending!r}")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.rstrip(b"\r")

    def reply(self) -> str:
        """One complete (possibly multi-line) reply, lines joined with newlines."""
        lines = [self._line().decode("utf-8", "replace")]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self._line().decode("utf-8", "replace"))
        return "\n".join(lines)

    def cmd(self, line: str) -> str:
        self.send(line + "\r\n")
        return self.reply()

    def closed(self) -> bool:
        """True when the server has closed the connection (after any pending replies)."""
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return True
        self.pending += data
        return not data

    def close(self) -> None:
        self.sock.close()


class Server:
    def __init__(self, tmp_path: Path, maincf: str, **ctx: object):
        (tmp_path / "main.cf").write_text("myhostname = mx.example.jp\n"
                                          "compatibility_level = 3.7\n"
                                          "smtpd_error_sleep_time = 0\n" + maincf)
        self.cfg = load_config(str(tmp_path))
        self.stream = io.StringIO()
        self.cleanup = ctx.pop("cleanup", None) or MemoryCleanup()
        self.ctx = SessionContext(self.cfg, cleanup=self.cleanup, **ctx)  # type: ignore[arg-type]
        self.loop = asyncio.new_event_loop()
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
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in self.log.splitlines():
                if text in line:
                    return line
            time.sleep(0.01)
        raise AssertionError(f"no log line with {text!r} in:\n{self.log}")


@pytest.fixture
def smtpd(tmp_path):
    """smtpd(maincf="...", policy=..., cleanup=...) starts a server; stopped at teardown."""
    servers: list[Server] = []

    def make(maincf: str = "", **ctx: object) -> Server:
        server = Server(tmp_path, maincf, **ctx).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
