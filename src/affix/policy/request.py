"""What smtpd tells the restriction engine, and what the engine answers.

smtpd owns a SessionState per connection and updates it as commands arrive; at each stage it
calls `await engine.check(stage, state)` and sends `verdict.reply` when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from affix.dns.client_name import NameStatus
from affix.reply import Reply

__all__ = ["NameStatus", "PermitAll", "PolicyEngine", "SessionState", "Stage", "Verdict"]


class Stage(Enum):
    CONNECT = "CONNECT"
    HELO = "HELO"
    EHLO = "EHLO"
    MAIL = "MAIL"
    RCPT = "RCPT"
    VRFY = "VRFY"
    ETRN = "ETRN"
    DATA = "DATA"
    END_OF_DATA = "END-OF-MESSAGE"


@dataclass
class SessionState:
    """Facts about one SMTP session; smtpd writes them, the engine only reads them."""

    client_addr: str
    client_port: int = 0
    client_name: str = "unknown"  # verified (forward-confirmed) name
    reverse_name: str = "unknown"  # PTR result, unverified
    name_status: NameStatus = NameStatus.PERM
    reverse_status: NameStatus = NameStatus.PERM
    helo: str | None = None
    protocol: str = "SMTP"  # SMTP after HELO, ESMTP after EHLO
    sender: str | None = None  # None before MAIL; "" for the null sender
    recipient: str | None = None  # the RCPT/VRFY address being checked
    recipients: list[str] = field(default_factory=list)  # accepted so far
    queue_id: str | None = None  # None -> logs say NOQUEUE
    etrn_domain: str | None = None
    size: int | None = None  # MAIL SIZE= or the received size at end of data
    sasl_username: str | None = None
    sasl_method: str | None = None
    tls_active: bool = False
    tls_protocol: str = ""  # after STARTTLS: e.g. TLSv1.3
    tls_cipher: str = ""  # e.g. TLS_AES_256_GCM_SHA384
    tls_bits: int = 0  # the cipher's secret bits
    server_addr: str = ""  # the address and port the client connected to
    server_port: int = 0
    transactions: int = 0  # MAIL commands accepted so far (a new policy instance each)
    illegal_pipelining: bool = False
    syslog_name: str | None = None  # the service's syslog_name, for log lines
    # The restriction engine's per-session data (defer_if_permit flags carried between
    # stages with smtpd_delay_reject=no, the policy-service instance id); smtpd leaves it alone.
    policy_data: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    @property
    def client(self) -> str:
        """`name[addr]`, as every log line and reply writes the client."""
        return f"{self.client_name}[{self.client_addr}]"


@dataclass
class Verdict:
    """The engine's answer. reply None means the request is accepted."""

    reply: Reply | None = None
    hold: str | None = None  # reason text when the message goes on hold
    discard: str | None = None
    redirect: str | None = None
    filter: str | None = None
    bcc: list[str] = field(default_factory=list)
    prepend: list[str] = field(default_factory=list)  # headers to add above Received


class PolicyEngine(Protocol):
    async def check(self, stage: Stage, state: SessionState) -> Verdict: ...


class PermitAll:
    """The engine used until restrictions are configured: everything passes."""

    async def check(self, stage: Stage, state: SessionState) -> Verdict:
        return Verdict()
