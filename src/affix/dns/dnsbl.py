"""DNSBL, RHSBL and DNSWL lookups (restrictions.md §6).

`parse_rbl_spec("zen.spamhaus.org=127.0.0.[2..11]")` reads a restriction argument once (a bad
reply filter is a configuration error: Postfix's smtpd dies with `RBL reply error: ...`).
`await rbl_lookup(resolver, spec, what, kind)` builds the query name, looks up A records (for IPv6
clients too), applies the filter, and for a listing fetches the TXT text. Temporary DNS errors
come back in `error` (the caller logs `warning: QUERY: RBL lookup error: REASON` and carries on
as not listed). Answers, negative ones included, are cached by the resolver.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from affix.ascii import is_digits
from affix.dns.names import to_ascii, valid_hostname
from affix.dns.resolver import DnsStatus, Resolver

TXT_SEPARATOR = " / "
TXT_LIMIT = 500  # Postfix: TXT records joined up to 500 characters

Octet = tuple[tuple[int, int], ...]  # allowed (lo, hi) ranges for one address octet


@dataclass(frozen=True)
class RblSpec:
    text: str  # the argument exactly as written (rbl_reply_maps is keyed by it)
    zone: str  # without the filter ($rbl_domain)
    filter: tuple[Octet, Octet, Octet, Octet] | None = None

    def matches(self, address: str) -> bool:
        """Does an A record value count as a listing? Without a filter, any address does."""
        if self.filter is None:
            return True
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            return False
        return all(any(lo <= octet <= hi for lo, hi in ranges)
                   for octet, ranges in zip(ip.packed, self.filter, strict=True))


@dataclass(frozen=True)
class RblResult:
    listed: bool
    query: str  # the name looked up ("" when the lookup was skipped)
    addresses: tuple[str, ...] = ()  # A records that matched the filter
    txt: str = ""  # TXT records joined with " / " ($rbl_reason)
    error: str | None = None  # resolver reason for a temporary failure


def parse_rbl_spec(text: str) -> RblSpec:
    """`ZONE` or `ZONE=PATTERN`; ValueError("RBL reply error: ...") for a bad pattern."""
    zone, sep, pattern = text.partition("=")
    if not sep:
        return RblSpec(text, zone)
    return RblSpec(text, zone, parse_reply_filter(pattern))


def parse_reply_filter(pattern: str) -> tuple[Octet, Octet, Octet, Octet]:
    """Four `.`-separated fields, each 0..255 or `[a;b..c]` (Postfix ip_match syntax)."""
    original = pattern
    if pattern.startswith("[") and pattern.endswith("]") and _outer_brackets(pattern):
        pattern = pattern[1:-1]  # brackets around the whole pattern are allowed
    if not pattern:
        raise ValueError(f"RBL reply error: empty address pattern in \"{original}\"")
    fields = _split_fields(pattern, original)
    if len(fields) != 4:
        raise ValueError(f"RBL reply error: need four address fields in \"{original}\"")
    octets = tuple(_parse_field(f, original) for f in fields)
    return octets  # type: ignore[return-value]


def _outer_brackets(pattern: str) -> bool:
    """True when the first `[` closes at the very end (`[127.0.0.2]`, not `[1;2].0.0.[3]`)."""
    depth = 0
    for i, c in enumerate(pattern):
        depth += c == "["
        depth -= c == "]"
        if depth == 0:
            return i == len(pattern) - 1
    return False


def _split_fields(pattern: str, original: str) -> list[str]:
    """Split on dots outside brackets; a `[...]` group cannot span fields."""
    fields, buf, inside = [], "", False
    for c in pattern:
        if c == "[":
            if inside:
                raise ValueError(f"RBL reply error: nested \"[\" in \"{original}\"")
            inside = True
        elif c == "]":
            if not inside:
                raise ValueError(f"RBL reply error: unexpected \"]\" in \"{original}\"")
            inside = False
        elif c == "." and not inside:
            fields.append(buf)
            buf = ""
            continue
        buf += c
    if inside:
        raise ValueError(f"RBL reply error: missing \"]\" in \"{original}\"")
    return [*fields, buf]


def _parse_field(field: str, original: str) -> Octet:
    if field.startswith("[") and field.endswith("]"):
        members = field[1:-1].split(";")
        return tuple(_parse_member(m, original) for m in members)
    value = _octet(field, original)
    return ((value, value),)


def _parse_member(member: str, original: str) -> tuple[int, int]:
    lo_text, sep, hi_text = member.partition("..")
    lo = _octet(lo_text, original)
    if not sep:
        return (lo, lo)
    hi = _octet(hi_text, original)
    if lo > hi:
        raise ValueError(f"RBL reply error: numeric range error at \"{member}\" in "
                         f"\"{original}\"")
    return (lo, hi)


def _octet(text: str, original: str) -> int:
    if not is_digits(text) or int(text) > 255:
        raise ValueError(f"RBL reply error: need decimal number 0..255 at \"{text}\" in "
                         f"\"{original}\"")
    return int(text)


# --- query names ----------------------------------------------------------------------------
def ip_query_name(addr: str, zone: str) -> str:
    """`d.c.b.a.ZONE` for IPv4; the 32 nibbles, lowest first, for IPv6 (RFC 5782 2.1, 2.4)."""
    ip = ipaddress.ip_address(addr)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address):
        labels = reversed(str(ip).split("."))
    else:
        labels = reversed(ip.exploded.replace(":", ""))
    return ".".join(labels) + "." + zone


def rhs_domain(what: str) -> str | None:
    """The domain an RHSBL query uses, or None when the lookup is skipped (§6)."""
    domain = what.rpartition("@")[2]
    if not domain or domain.startswith("["):
        return None
    ascii_domain = to_ascii(domain)
    if ascii_domain is None or not valid_hostname(ascii_domain):
        return None
    if is_digits(ascii_domain.rsplit(".", 1)[-1]):
        return None  # looks like (part of) an address
    return ascii_domain


# --- lookup ---------------------------------------------------------------------------------
async def rbl_lookup(resolver: Resolver, spec: RblSpec, what: str, kind: str) -> RblResult:
    """Look WHAT up under SPEC's zone. kind "ip" (client address) or "domain" (RHS name)."""
    query = _query_name(spec, what, kind)
    if query is None:
        return RblResult(False, "")
    answer = await resolver.query(query, "A")
    if answer.status is DnsStatus.TEMPFAIL:
        return RblResult(False, query, error=answer.reason)
    matched = tuple(a for a in answer.records if spec.matches(a)) if answer.ok else ()
    if not matched:
        return RblResult(False, query)
    return RblResult(True, query, matched, await _txt(resolver, query))


def _query_name(spec: RblSpec, what: str, kind: str) -> str | None:
    if kind == "ip":
        try:
            return ip_query_name(what, spec.zone)
        except ValueError:
            return None
    if kind == "domain":
        domain = rhs_domain(what)
        return None if domain is None else f"{domain}.{spec.zone}"
    raise ValueError(f"unknown RBL lookup kind: {kind}")


async def _txt(resolver: Resolver, query: str) -> str:
    answer = await resolver.query(query, "TXT")
    if not answer.ok:
        return ""
    return TXT_SEPARATOR.join(answer.records)[:TXT_LIMIT]
