"""Host name and address syntax, as Postfix's valid_hostname/valid_hostaddr judge them.

The DNS layer uses these to refuse queries for names that cannot exist (Postfix does not send
them to the resolver either) and to screen names found in answers.
"""

from __future__ import annotations

import functools
import ipaddress

from affix.ascii import is_digits

MAX_LABEL = 63  # RFC 1035 2.3.4
MAX_NAME = 255  # Postfix VALID_HOSTNAME_LEN


@functools.lru_cache(maxsize=1024)  # the same few names (HELO, sender domains) over and over
def valid_hostname(name: str, utf8: bool = False) -> bool:
    """Letters, digits, `_` and inner `-`; labels 1..63; not all-numeric; <= 255.

    With `utf8` (SMTPUTF8 sessions) non-ASCII letters and digits count as letters too.
    """
    if not name or len(name) > MAX_NAME:
        return False
    for label in name.split("."):
        if not label or len(label) > MAX_LABEL:
            return False
        if label.startswith("-") or label.endswith("-"):
            return False
        if not all((c.isascii() or utf8) and (c.isalnum() or c in "-_") for c in label):
            return False
    # Postfix rejects names made of digits and dots only (they look like addresses).
    return any(not is_digits(c) for c in name.replace(".", ""))


def valid_hostaddr(text: str) -> bool:
    """A bare IPv4 or IPv6 address (no brackets, no zone index)."""
    if "%" in text or (":" not in text and not is_digits(text.replace(".", ""))):
        return False  # a zone index, or a name (an address has a colon or digits and dots only)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def to_ascii(name: str) -> str | None:
    """NAME with non-ASCII labels converted to A-labels (IDNA), without a trailing dot.

    None when the name cannot be converted (bad IDNA, empty labels, labels too long).
    """
    if name.isascii():
        return name[:-1] if name.endswith(".") and name != "." else name
    import dns.exception  # only for non-ASCII names: dnspython is loaded when needed
    import dns.name

    try:
        text = dns.name.from_text(name, origin=None).to_text(omit_final_dot=True)
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return None
    return text


def valid_address_literal(text: str) -> bool:
    """`[1.2.3.4]` or `[IPv6:2001:db8::1]` (RFC 5321 4.1.3)."""
    if not (text.startswith("[") and text.endswith("]")):
        return False
    inner = text[1:-1]
    if inner[:5].lower() == "ipv6:":
        inner = inner[5:]
        try:
            return isinstance(ipaddress.ip_address(inner), ipaddress.IPv6Address)
        except ValueError:
            return False
    try:
        return isinstance(ipaddress.ip_address(inner), ipaddress.IPv4Address)
    except ValueError:
        return False
