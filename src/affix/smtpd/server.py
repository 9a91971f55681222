"""Listeners: one SmtpService per `inet smtpd` line of master.cf.

The lifecycle (daemon.py) builds a service with a `context` callable; each new connection calls
it once and keeps what it returns for its whole life, so a reload (which swaps what `context`
returns) never changes a session in progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from affix.config.snapshot import Config
from affix.policy.request import PermitAll, PolicyEngine


@dataclass(frozen=True)
class SessionContext:
    """Everything a session needs, fixed at connect time."""

    cfg: Config  # the service's snapshot (main.cf + its -o overrides)
    policy: PolicyEngine = PermitAll()


class SmtpService:
    def __init__(self, name: str, host: str | None, port: int,
                 context: Callable[[], SessionContext]):
        self.name = name
        self.host = host
        self.port = port
        self.context = context
        self._server: asyncio.AbstractServer | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind and listen; raises OSError when the address is taken."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port,
                                                  reuse_address=True)

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()

    async def drain(self, grace: float) -> None:
        """Wait up to `grace` seconds for open sessions, then cut the rest."""
        if self._sessions:
            _, pending = await asyncio.wait(set(self._sessions), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from affix.smtpd.session import run_session

        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await run_session(self.context(), reader, writer)
        finally:
            self._sessions.discard(task)
