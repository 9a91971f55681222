"""The seam for header_checks, mime_header_checks, nested_header_checks and body_checks.

cleanup-and-delivery.md §1 describes the behaviour. The regexp/pcre tables these need are built
in the `tables` area; until they land, ContentChecks.inspect() passes every message unchanged.
Whoever fills this in keeps the interface: cleanup calls inspect() after counting hops (Postfix
3.0+: IGNOREd Received headers still count) and before adding missing headers (added headers
are not checked), and acts on the returned CheckResult.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from affix.cleanup.headers import Message
from affix.config.snapshot import Config
from affix.queue.envelope import Envelope
from affix.reply import Reply


@dataclass
class CheckResult:
    reject: Reply | None = None  # REJECT (5.7.1 ...) or a 4xx on a table lookup error
    hold: str | None = None  # HOLD reason: the message goes to the hold queue
    discard: str | None = None  # DISCARD: accept, then drop every recipient
    redirect: str | None = None  # REDIRECT: replaces all recipients (the last one wins)
    filter: str | None = None  # FILTER transport:destination
    bcc: list[str] = field(default_factory=list)  # BCC recipients (NOTIFY=NONE)


class ContentChecks:
    """Applies the *_checks tables to a message (not yet: see the module docstring)."""

    def __init__(self, cfg: Config, tables: object | None = None):
        self.cfg = cfg
        self.tables = tables
        self.enabled = "no_header_body_checks" not in cfg.list("receive_override_options")

    def inspect(self, queue_id: str, envelope: Envelope, msg: Message) -> CheckResult:
        """May edit msg.headers/msg.body in place (IGNORE, STRIP, PREPEND, REPLACE)."""
        return CheckResult()
