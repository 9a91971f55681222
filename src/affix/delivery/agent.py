"""What the queue manager hands a delivery agent, and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from affix.config.snapshot import Config
from affix.queue.envelope import Envelope, Recipient

SENT, DEFERRED, BOUNCED = "sent", "deferred", "bounced"


@dataclass(frozen=True)
class DeliveryRequest:
    queue_id: str
    envelope: Envelope
    recipient: Recipient
    content: bytes


@dataclass(frozen=True)
class Outcome:
    """One delivery attempt's result, logged as one `to=<...>` line."""

    to: str
    status: str  # sent, deferred, bounced
    dsn: str  # X.Y.Z
    text: str
    relay: str = "local"
    orig_to: str = ""
    # a directory whose new entry is not yet fsynced: the outcome is final only once it is
    # (set by deliveries on the queue manager's loop; see delivery/syncs.py)
    unsynced: str = ""

    def with_unsynced(self, directory: str) -> Outcome:
        # not dataclasses.replace: it costs microseconds a call, and every delivery makes two
        return Outcome(self.to, self.status, self.dsn, self.text, self.relay, self.orig_to,
                       directory)


def outcome_for(to: str, dsn: str, text: str, relay: str = "local",
                orig_to: str = "") -> Outcome:
    """The status follows the DSN class: 2 sent, 4 deferred, 5 bounced."""
    status = {"2": SENT, "4": DEFERRED}.get(dsn[:1], BOUNCED)
    return Outcome(to, status, dsn, text, relay, orig_to)


class DomainAgent:
    """An agent whose deliveries are counted per recipient domain."""

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def destination(self, recipient: str) -> str:
        return recipient.rpartition("@")[2].lower()

    def concurrency(self) -> int:
        return max(1, self.cfg.int("default_destination_concurrency_limit"))


class Agent(Protocol):
    name: str  # program name in the mail log: local, virtual, smtp

    def destination(self, recipient: str) -> str:
        """The key per-destination concurrency is counted by."""
        ...

    def concurrency(self) -> int:
        ...

    async def deliver(self, request: DeliveryRequest) -> list[Outcome]:
        """One or more outcomes (an alias can expand into several deliveries)."""
        ...
