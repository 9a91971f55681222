"""Every reply cleanup gives at the end of data (smtp-and-logs.md §2).

These sit below smtpd in the layering, so smtpd/replies.py can re-export them; they are defined
once, here.
"""

from __future__ import annotations

from affix.reply import Reply

# Postfix cleanup_strerror: the texts smtpd relays for each cleanup status.
TOO_MANY_HOPS = Reply(554, "5.4.0", "Error: too many hops")
MESSAGE_TOO_BIG = Reply(552, "5.3.4", "Error: message file too big")
WRITE_ERROR = Reply(451, "4.3.0", "Error: queue file write error")
NO_RECEIVED = Reply(554, "5.4.0", "Error: no Received: header")  # non-SMTP input only
# virtual_alias_maps past its nesting or size limit (a deferral with cleanup's own reason)
ALIAS_EXPANSION_ERROR = Reply(451, "4.6.0", "Alias expansion error")


def queued(queue_id: str) -> Reply:
    return Reply(250, "2.0.0", f"Ok: queued as {queue_id}")


# A table cleanup cannot read (header/body_checks, virtual_alias_maps) is reported with the
# queue-file-write status, as Postfix's cleanup does (CLEANUP_STAT_WRITE): the client is told
# to try again later.
LOOKUP_ERROR = WRITE_ERROR
CONTENT_REJECTED = "5.7.1 message content rejected"  # REJECT without a text


def content_rejected(reason: str) -> Reply:
    """REJECT's reason `D.S.N text`: `550 5.x.x text`, or `451 4.x.x text` (a temporary
    reject) -- Postfix smtpd's reply for CLEANUP_STAT_CONT / CLEANUP_STAT_DEFER."""
    dsn, _, text = reason.partition(" ")
    return Reply(451 if dsn.startswith("4") else 550, dsn, text)
