"""The envelope of a message: what the queue file records besides the content."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Recipient:
    address: str
    original: str = ""  # the address as first received (orig_to=), "" when the same
    done: bool = False  # delivered or bounced; recorded before the file is removed
    notify: str = ""  # DSN NOTIFY= value, "" when not given
    orcpt: str = ""  # DSN ORCPT= value as `type;address` (xtext decoded), "" when not given


@dataclass
class Envelope:
    sender: str  # "" is the null sender
    recipients: list[Recipient] = field(default_factory=list)
    arrival: float = 0.0  # time.time() of MAIL FROM
    client_name: str = ""
    client_addr: str = ""
    helo: str = ""
    protocol: str = ""  # SMTP, ESMTP, ESMTPS ... ("local" for sendmail)
    sasl_username: str = ""
    size_hint: int = 0  # MAIL SIZE=
    body_type: str = ""  # 7BIT, 8BITMIME
    smtputf8: bool = False
    hold: str | None = None
    discard: str | None = None
    redirect: str | None = None
    filter: str | None = None
    ret: str = ""  # DSN RET= (FULL or HDRS), "" when not given
    envid: str = ""  # DSN ENVID= (xtext decoded), "" when not given
