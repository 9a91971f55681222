"""Real collaborators and a raw client for the smtpd tests: the real cleanup on a queue store in
the test's tmp dir (recording what smtpd handed it), a scripted policy engine (a real
PolicyEngine implementation), and a blocking SMTP client."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket

from affix.cleanup.service import SMTP, Cleanup
from affix.config.snapshot import Config
from affix.policy.request import SessionState, Stage, Verdict
from affix.queue.envelope import Envelope
from affix.queue.store import COMPLETE_MODE, QueueFile, QueueStore
from affix.reply import Reply


class RecordingCleanup(Cleanup):
    """The real cleanup on a real queue store, noting what smtpd handed it: `opened` (queue
    ids, in order), `messages` ((envelope, content) as smtpd passed them, for the messages
    cleanup queued) and `abandoned` (queue ids smtpd gave up)."""

    def __init__(self, cfg: Config, store: QueueStore):
        super().__init__(cfg, store)
        self.opened: list[str] = []
        self.messages: list[tuple[Envelope, bytes]] = []
        self.abandoned: list[str] = []

    def open(self) -> QueueFile:
        qf = super().open()
        self.opened.append(qf.queue_id)
        return qf

    async def finish(self, qf: QueueFile, envelope: Envelope, content: bytes,
                     origin: str = SMTP) -> Reply:
        reply = await super().finish(qf, envelope, content, origin)
        if reply.code == 250:
            self.messages.append((envelope, content))
        return reply

    def abandon(self, qf: QueueFile) -> None:
        self.abandoned.append(qf.queue_id)
        super().abandon(qf)

    def queued(self, queue_id: str) -> bool:
        """The queue file is committed (complete mark, mode 0700) in incoming/active/hold."""
        queue = self.store.find(queue_id, ("incoming", "active", "hold"))
        if queue is None:
            return False
        return os.stat(self.store.path(queue, queue_id)).st_mode & 0o777 == COMPLETE_MODE

    def present(self, queue_id: str) -> bool:
        return self.store.find(queue_id) is not None


class ScriptedPolicy:
    """A PolicyEngine that records each stage and rejects the stages it is told to."""

    def __init__(self, rejects: dict[Stage, Reply] | None = None, delay: float = 0.0,
                 verdicts: dict[Stage, Verdict] | None = None):
        self.rejects = rejects or {}
        self.verdicts = verdicts or {}
        self.delay = delay
        self.calls: list[tuple[Stage, str | None]] = []
        self.states: list[SessionState] = []  # a copy of the facts at each call

    async def check(self, stage: Stage, state: SessionState) -> Verdict:
        self.calls.append((stage, state.recipient))
        self.states.append(dataclasses.replace(state))
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

    def to_data(self, *rcpts: str, sender: str = "a@example.org") -> None:
        """MAIL FROM:<sender>, RCPT TO each of `rcpts` (b@example.jp without any) and DATA,
        each accepted, so that what is sent next is the message."""
        assert self.cmd(f"MAIL FROM:<{sender}>").startswith("250 ")
        for rcpt in rcpts or ("b@example.jp",):
            assert self.cmd(f"RCPT TO:<{rcpt}>").startswith("250 ")
        assert self.cmd("DATA").startswith("354 ")

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
