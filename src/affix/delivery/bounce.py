"""Delivery status notifications (RFC 3464) sent back to the envelope sender.

A notice is a multipart/report (RFC 6522) with three parts: a human-readable explanation, a
message/delivery-status part, and the original message (message/rfc822), or only its headers
(text/rfc822-headers) when the sender asked for headers only (RET=HDRS), when it is larger
than bounce_size_limit, and in delay warnings and success reports. The notice has the null
sender, so it can never cause another notice (RFC 3461 4.3 / RFC 5321 4.5.5).

Which recipients a notice names follows each one's NOTIFY (RFC 3461 4.1): failures and delays
by default, never with NEVER, successes only when asked for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from affix.ascii import printable
from affix.cleanup import headers as hdr
from affix.config.snapshot import Config
from affix.queue.envelope import Envelope, Recipient


@dataclass(frozen=True)
class Failure:
    recipient: str
    original: str
    status: str  # X.Y.Z
    reason: str
    relay: str = ""
    notify: str = ""  # the recipient's NOTIFY=
    orcpt: str = ""  # the recipient's ORCPT= (`type;address`)

    def record(self) -> tuple[str, ...]:
        """As the queue's bounce, defer and trace logs keep it (store.append_log)."""
        return (self.recipient, self.original, self.status, self.reason, self.relay,
                self.notify, self.orcpt)

    @classmethod
    def from_record(cls, fields: tuple[str, ...]) -> Failure:
        return cls(*(tuple(fields) + ("",) * 7)[:7])


FAILED, DELAYED, DELIVERED = "failed", "delayed", "delivered"
NOTIFY_ON = {FAILED: "FAILURE", DELAYED: "DELAY", DELIVERED: "SUCCESS"}

_SUBJECTS = {FAILED: "Undelivered Mail Returned to Sender",
             DELAYED: "Delayed Mail (still being retried)",
             DELIVERED: "Successful Mail Delivery Report"}


def wanted(notify: str, kind: str) -> bool:
    """Whether a recipient's NOTIFY asks for a notice of this kind (none given: failures and
    delays)."""
    if not notify:
        return kind != DELIVERED
    return NOTIFY_ON[kind] in notify.upper().split(",")


def _explanation(kind: str, host: str, failures: list[Failure], delay_hours: float) -> str:
    # affix's own wording (Postfix's template text is not reused).
    if kind == DELAYED:
        head = (f"This is an automatic message from the mail server {host}.\n\n"
                f"Your message has not been delivered yet, after about {delay_hours:g} hours.\n"
                "Delivery will be retried; you do not need to send it again.\n"
                "The recipients still waiting are listed below.\n")
    elif kind == DELIVERED:
        head = (f"This is an automatic message from the mail server {host}.\n\n"
                "Your message was delivered to the recipients listed below, as you asked\n"
                "to be told.\n")
    else:
        head = (f"This is an automatic message from the mail server {host}.\n\n"
                "Your message could not be delivered to one or more recipients.\n"
                "The reasons are listed below; the message is attached.\n")
    lines = [f"<{f.recipient}>: {f.reason}" for f in failures]
    return head + "\n" + "\n".join(lines) + "\n"


def _status_part(cfg: Config, queue_id: str, envelope: Envelope, failures: list[Failure],
                 kind: str) -> str:
    host = cfg.get("myhostname")
    out = [f"Original-Envelope-Id: {printable(envelope.envid)}"] if envelope.envid else []
    out += [f"Reporting-MTA: dns; {host}", f"X-Postfix-Queue-ID: {queue_id}",
           f"X-Postfix-Sender: rfc822; {envelope.sender}",
           f"Arrival-Date: {hdr.rfc2822_date(envelope.arrival)}", ""]
    for f in failures:
        out.append(f"Final-Recipient: rfc822; {f.recipient}")
        if f.orcpt:  # what the sender's ORCPT said, as it said it (RFC 3461 4.2)
            out.append(f"Original-Recipient: {printable(f.orcpt)}")
        else:  # always, as Postfix writes it (the address itself when it was not rewritten)
            out.append(f"Original-Recipient: rfc822;{f.original or f.recipient}")
        out.append(f"Action: {kind}")
        out.append(f"Status: {f.status}")
        if f.relay and f.relay not in ("local", "none", "virtual"):
            out.append(f"Remote-MTA: dns; {f.relay}")
        out.append(f"Diagnostic-Code: X-Postfix; {f.reason}")
        out.append("")
    return "\n".join(out)


def build_notice(cfg: Config, queue_id: str, envelope: Envelope, content: bytes,
                 failures: list[Failure], kind: str = FAILED,
                 now: float | None = None) -> tuple[Envelope, bytes]:
    """The envelope and content of a notice about `failures` to envelope.sender."""
    now = time.time() if now is None else now
    host = cfg.get("myhostname")
    boundary = f"{queue_id}.{int(now)}/{host}"
    returned, ctype = content, "message/rfc822"
    # Only the headers when the original is large, so that the notice itself stays within
    # message_size_limit (a notice cleanup refuses would leave the message stuck in the queue).
    room = cfg.size("message_size_limit") - 8192
    if kind != FAILED or envelope.ret == "HDRS" or len(content) > cfg.size("bounce_size_limit") \
            or (cfg.size("message_size_limit") and len(content) > room):
        msg = hdr.split(content)
        returned, ctype = b"".join(msg.headers), "text/rfc822-headers"
    delay_hours = (now - envelope.arrival) / 3600
    head = "".join([
        f"Date: {hdr.rfc2822_date(now)}\n",  # first, as in Postfix's notices
        f"From: Mail Delivery System <MAILER-DAEMON@{host}>\n",
        f"Subject: {_SUBJECTS[kind]}\n",
        f"To: {envelope.sender}\n",
        "Auto-Submitted: auto-replied\n",
        "MIME-Version: 1.0\n",
        "Content-Type: multipart/report; report-type=delivery-status;\n",
        f'\tboundary="{boundary}"\n',
        "Content-Transfer-Encoding: 8bit\n",
        "\n",
        "This is a MIME-encapsulated message.\n\n",
        f"--{boundary}\n",
        "Content-Description: Notification\n",
        # UTF-8: addresses and reasons may be (SMTPUTF8); the part says so, as Postfix's
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n",
        _explanation(kind, host, failures, delay_hours), "\n",
        f"--{boundary}\n",
        "Content-Description: Delivery report\n",
        "Content-Type: message/delivery-status\n\n",
        _status_part(cfg, queue_id, envelope, failures, kind), "\n",
        f"--{boundary}\n",
        "Content-Description: " + ("Undelivered Message" if ctype == "message/rfc822"
                                   else "Message Headers") + "\n",
        f"Content-Type: {ctype}\n",
        "Content-Transfer-Encoding: 8bit\n\n",
    ]).encode("utf-8", "surrogateescape")
    # the original as it would have been delivered: with its Return-Path (Postfix's too)
    returned = f"Return-Path: <{envelope.sender}>\n".encode("utf-8", "surrogateescape") \
        + returned
    if not returned.endswith(b"\n"):
        returned += b"\n"
    tail = f"\n--{boundary}--\n".encode()
    notice = Envelope(sender="", recipients=[Recipient(envelope.sender)], arrival=now,
                      protocol="local")
    return notice, head + returned + tail
