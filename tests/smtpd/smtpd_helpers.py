"""Real collaborators and a raw client for the smtpd tests: an in-memory cleanup, a scripted
policy engine (a real PolicyEngine implementation), and a blocking SMTP client."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

from affix.policy.request import SessionState, Stage, Verdict
from affix.queue.envelope import Envelope
from affix.reply import Reply


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
