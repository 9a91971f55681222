"""Listeners: one SmtpService per `inet smtpd` line of master.cf.

The lifecycle (daemon.py) builds a service with a `context` callable; each new connection calls
it once and keeps what it returns for its whole life, so a reload (which swaps what `context`
returns) never changes a session in progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from affix import log
from affix.config.snapshot import Config
from affix.policy.request import PermitAll, PolicyEngine
from affix.smtpd.settings import SmtpdSettings

if TYPE_CHECKING:
    from affix.cleanup.service import Cleanup
    from affix.smtpd.session import SmtpSession


@dataclass(frozen=True)
class SessionContext:
    """Everything a session needs, fixed at connect time."""

    cfg: Config  # the service's snapshot (main.cf + its -o overrides)
    policy: PolicyEngine = PermitAll()
    # Required: there is no session without a queue behind it (design.md: "250 means on
    # disk"; nothing accepted is ever dropped). Keyword-only so it can follow the defaults.
    cleanup: Cleanup = field(kw_only=True)
    resolver: Any = None  # affix.dns.resolver.Resolver; None: no client name lookup
    tables: Any = None  # affix.tables.TableCache, for smtpd's own table parameters
    etrn: Callable[[str], Awaitable[bool]] | None = None  # queue flush for ETRN, when there is one


class SmtpService:
    def __init__(self, name: str, host: str | list[str] | None, port: int,
                 context: Callable[[], SessionContext], reuse_port: bool = False):
        self.name = name
        self.reuse_port = reuse_port  # worker processes share the port (daemon.py)
        self.host = host
        self.port = port
        self.context = context
        self._server: asyncio.AbstractServer | None = None
        self._sessions: set[SmtpSession] = set()
        self._per_client: dict[str, int] = {}  # open sessions per client address
        self._idle = asyncio.Event()
        self._settings: tuple[Config, SmtpdSettings] | None = None

    async def start(self) -> None:
        """Bind and listen; raises OSError when the address is taken and ConfigError for a bad
        smtpd parameter."""
        self.settings_for(self.context())
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_session, self.host, self.port,
                                                reuse_address=True, backlog=1024,
                                                reuse_port=self.reuse_port or None)

    def settings_for(self, ctx: SessionContext) -> SmtpdSettings:
        """Parsed once per config snapshot (a reload brings a new snapshot)."""
        cached = self._settings
        if cached is not None and cached[0] is ctx.cfg:
            return cached[1]
        settings = SmtpdSettings.from_config(ctx.cfg, ctx.tables)
        if settings.tls_error and settings.tls_level != "none":
            log.warning("smtpd", f"TLS is not available: {settings.tls_error}",
                        settings.syslog_name)
        self._settings = (ctx.cfg, settings)
        return settings

    def _new_session(self) -> SmtpSession:
        from affix.smtpd.session import SmtpSession

        ctx = self.context()
        return SmtpSession(ctx, self.settings_for(ctx), self)

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def session_opened(self, session: SmtpSession) -> int:
        """Register a session; returns how many this client address now has open."""
        self._sessions.add(session)
        self._idle.clear()
        addr = session.real_addr
        count = self._per_client[addr] = self._per_client.get(addr, 0) + 1
        return count

    def session_closed(self, session: SmtpSession) -> None:
        if session not in self._sessions:
            return
        self._sessions.discard(session)
        addr = session.real_addr
        left = self._per_client.get(addr, 1) - 1
        if left > 0:
            self._per_client[addr] = left
        else:
            self._per_client.pop(addr, None)
        if not self._sessions:
            self._idle.set()

    def stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()

    async def drain(self, grace: float) -> None:
        """Wait up to `grace` seconds for open sessions, then cut the rest."""
        if not self._sessions:
            return
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            for session in list(self._sessions):
                session.transport.abort()
            await asyncio.sleep(0)
