"""Host name and address syntax, and the address canonicalization restrictions rely on."""

from __future__ import annotations

import re

from affix.config.snapshot import Config
from affix.tables.access import is_ip_address

_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?")
_UTF8_LABEL = re.compile(r"[\w](?:[\w-]*[\w])?")
MAX_NAME = 255  # RFC 1035 2.3.4
MAX_LABEL = 63


def strip_one_dot(name: str) -> str:
    """Postfix ignores one trailing dot of a HELO name or address domain."""
    return name[:-1] if name.endswith(".") else name


def valid_hostname(name: str, utf8: bool = False) -> bool:
    """Letters, digits, `-` and `_` in non-empty labels; an all-numeric name is an address."""
    if not name or len(name) > MAX_NAME:
        return False
    label = _UTF8_LABEL if utf8 and not name.isascii() else _LABEL
    for part in name.split("."):
        if len(part) > MAX_LABEL or not label.fullmatch(part):
            return False
    return not re.fullmatch(r"[\d.]+", name)


def valid_address_literal(text: str) -> bool:
    """`[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321 4.1.3)."""
    if not (text.startswith("[") and text.endswith("]")):
        return False
    inner = text[1:-1]
    if inner[:5].lower() == "ipv6:":
        return ":" in inner[5:] and is_ip_address(inner[5:])
    return "." in inner and ":" not in inner and is_ip_address(inner)


def domain_of(address: str) -> str:
    """The part after the last `@` ('' without one)."""
    return address.rpartition("@")[2] if "@" in address else ""


def canonical_address(cfg: Config, address: str) -> str:
    """The address as the resolver sees it in the local rewrite context (tables.md §3):
    `user` becomes user@$myorigin; `user@host` gets .$mydomain with append_dot_mydomain."""
    if not address:
        return address
    if "@" not in address:
        origin = cfg.get("myorigin").strip()
        return f"{address}@{origin}" if origin else address
    local, _, domain = address.rpartition("@")
    if domain and "." not in domain and not domain.startswith("[") and \
            cfg.bool("append_dot_mydomain"):
        mydomain = cfg.get("mydomain").strip()
        if mydomain:
            return f"{local}@{domain}.{mydomain}"
    return address
