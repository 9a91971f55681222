"""A stand-in client matcher for address lists (smtpd_authorized_xclient_hosts,
smtpd_forbid_bare_newline_exclusions).

TEMPORARY: replace with affix.tables.matchlist.MatchList (area `tables`, tables.md §7) once it
lands on main. It understands only what a loopback test or an admin typing addresses needs:
IPv4/IPv6 addresses, `[addr]`, CIDR networks (`192.0.2.0/24`, `[2001:db8::]/32`), `!`
negation, and exact host names. Table references (`type:name`) and `/file` entries are skipped.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from affix.config.snapshot import split_list

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AddressList:
    entries: tuple[tuple[bool, _Net | str], ...]  # (negated, network or lowercase name)

    @classmethod
    def parse(cls, value: str) -> AddressList:
        out: list[tuple[bool, _Net | str]] = []
        for item in split_list(value):
            neg = item.startswith("!")
            item = item[1:] if neg else item
            if ":" in item and not item.startswith("[") and _looks_like_table(item):
                continue
            if item.startswith("/"):
                continue
            net = _network(item)
            out.append((neg, net if net is not None else item.lower()))
        return cls(tuple(out))

    def match(self, name: str, addr: str) -> bool:
        """First match wins; a negated match means no."""
        ip = _address(addr)
        for neg, entry in self.entries:
            if isinstance(entry, str):
                hit = entry == name.lower()
            else:
                hit = ip is not None and ip.version == entry.version and ip in entry
            if hit:
                return not neg
        return False


def _looks_like_table(item: str) -> bool:
    head = item.split(":", 1)[0]
    return head.isalpha()


def _address(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped or ip


def _network(item: str) -> _Net | None:
    text = item
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None
        text = text[1:close] + text[close + 1:]
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
