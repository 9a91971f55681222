"""Reply construction for restriction rejects (restrictions.md §3).

Every reject goes through `make_reply`: the code must be 4xx/5xx and the DSN valid, the DSN's
first digit follows the code, non-printable characters become spaces and the reply is cut at
510 characters. DSNs taken from access tables and RBL templates are also fixed up per class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from affix.reply import Reply

_DSN = re.compile(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}")
REPLY_LIMIT = 510  # RFC 5321 4.5.3.1.5: 512 octets per reply line, CRLF included

SENDER_CLASS = "Sender address"
RECIPIENT_CLASS = "Recipient address"

# smtpd_dsn_fix: X.1.Y for the wrong kind of address becomes a sender/recipient status.
_SENDER_FIX = {"1": "1.7", "2": "1.8", "3": "1.7", "4": "1.7", "5": "1.0", "6": "1.7",
               "7": "1.7", "8": "1.8"}
_RECIPIENT_FIX = {"1": "1.1", "2": "1.2", "3": "1.3", "4": "1.4", "5": "1.5", "6": "1.6",
                  "7": "1.3", "8": "1.2"}


@dataclass(frozen=True)
class Built:
    reply: Reply
    warning: str | None = None  # `SMTP reply code configuration error: ...`


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)


def make_reply(code: int, dsn: str, text: str) -> Built:
    """A checked reply; a bad code or DSN becomes the generic `450 4.7.1 Service unavailable`."""
    if not 400 <= code <= 599 or not _DSN.fullmatch(dsn):
        return Built(Reply(450, "4.7.1", "Service unavailable"),
                     f"SMTP reply code configuration error: {code} {dsn} {text}")
    dsn = str(code)[0] + dsn[1:]
    text = _printable(text)
    room = REPLY_LIMIT - len(f"{code} {dsn} ")
    return Built(Reply(code, dsn, text[:room]))


def fix_dsn(dsn: str, reply_class: str) -> tuple[str, str | None]:
    """Map an X.1.Y status that does not fit the rejected thing; returns (dsn, log text)."""
    m = re.fullmatch(r"([245])\.1\.([0-9]{1,3})", dsn)
    if not m:
        return dsn, None
    digit, detail = m.groups()
    if reply_class == SENDER_CLASS:
        fixed = f"{digit}.{_SENDER_FIX.get(detail, '1.0')}"
    elif reply_class == RECIPIENT_CLASS:
        fixed = f"{digit}.{_RECIPIENT_FIX.get(detail, '1.0')}"
    else:
        fixed = f"{digit}.0.0"
    if fixed == dsn:
        return dsn, None
    return fixed, f"mapping DSN status {dsn} into {reply_class} status {fixed}"


def soft_bounce(reply: Reply) -> Reply:
    """soft_bounce=yes: a 5 at the start of the code and of the DSN becomes a 4."""
    if reply.code < 500 or reply.code > 599:
        return reply
    dsn = "4" + reply.dsn[1:] if reply.dsn and reply.dsn[0] == "5" else reply.dsn
    return Reply(reply.code - 100, dsn, reply.text)


_REPLY_TEXT = re.compile(r"([45][0-9][0-9])(?:\s+([245]\.[0-9]{1,3}\.[0-9]{1,3}))?(?:\s+(.*))?",
                         re.S)


def parse_reply_text(text: str, default_dsn: str = "4.7.1") -> tuple[int, str, str] | None:
    """`NNN [D.S.N] text` (an RBL template result, a policy default); None when malformed."""
    m = _REPLY_TEXT.fullmatch(text.strip())
    if not m:
        return None
    code, dsn, rest = m.groups()
    return int(code), dsn or default_dsn, rest or ""


def add_footer(reply: Reply, footer: str) -> Reply:
    """smtpd_reject_footer: `\\n` starts a new reply line; a leading `\\c` continues the last."""
    if not footer:
        return reply
    footer = footer.replace("\\n", "\n")
    if footer.startswith("\\c"):
        return Reply(reply.code, reply.dsn, reply.text + footer[2:])
    return Reply(reply.code, reply.dsn, reply.text + "\n" + footer)
