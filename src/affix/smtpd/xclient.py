"""XCLIENT (Postfix XCLIENT_README): an authorized client overrides what smtpd knows about
the client, so that a proxy, a test or an admin on loopback can check the policy for another
address. Values are xtext (RFC 3461 4); `[UNAVAILABLE]` and `[TEMPUNAVAIL]` are special.
"""

from __future__ import annotations

import ipaddress
import re

from affix.ascii import is_digits
from affix.smtpd import replies
from affix.smtpd.args import ArgError, is_xtext, xtext_decode

UNAVAILABLE = "[UNAVAILABLE]"
TEMPUNAVAIL = "[TEMPUNAVAIL]"

_KNOWN = frozenset({"NAME", "REVERSE_NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN",
                    "DESTADDR", "DESTPORT"})
_HOSTNAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?")


def parse_xclient(arg: str) -> dict[str, str]:
    """`NAME=x ADDR=y ...` -> {"NAME": "x", ...}, values decoded and checked. Raises ArgError."""
    words = arg.split()
    if not words:
        raise ArgError(replies.XCLIENT_SYNTAX)
    attrs: dict[str, str] = {}
    for word in words:
        name, eq, value = word.partition("=")
        if not eq or not name:
            raise ArgError(replies.XCLIENT_PAIR)
        name = name.upper()
        if name not in _KNOWN:
            raise ArgError(replies.xclient_bad_name(name))
        if not is_xtext(value):
            raise ArgError(replies.xclient_bad_value(name, value))
        value = xtext_decode(value)
        attrs[name] = _check(name, value)
    return attrs


def _check(name: str, value: str) -> str:
    if value.upper() in (UNAVAILABLE, TEMPUNAVAIL):
        return value.upper()
    ok = True
    if name in ("ADDR", "DESTADDR"):
        value = value[5:] if value.upper().startswith("IPV6:") else value
        try:
            value = str(ipaddress.ip_address(value))
        except ValueError:
            ok = False
    elif name in ("PORT", "DESTPORT"):
        ok = is_digits(value) and int(value) <= 65535
    elif name == "PROTO":
        value = value.upper()
        ok = value in ("SMTP", "ESMTP")
    elif name in ("NAME", "REVERSE_NAME"):
        ok = bool(_HOSTNAME.fullmatch(value))
    if not ok:
        raise ArgError(replies.xclient_bad_value(name, value))
    return value
