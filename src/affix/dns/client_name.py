"""The SMTP client's hostname: reverse (PTR) lookup, then forward confirmation (restrictions.md §5).

Postfix's smtpd asks the system resolver (getnameinfo/getaddrinfo), so /etc/hosts counts there.
affix asks DNS through its own Resolver instead, so that `affix_dns_servers` and the tests' DNS
fixture apply to the client name as to every other lookup; an /etc/hosts entry does not name a
client. Two loopback addresses keep a sensible name without any query: 127.0.0.1 and ::1 are
`localhost`, as /etc/hosts says on every system.

Outcome, as Postfix's smtpd_peer.c decides it:
- PTR lookup fails: both names `unknown`; status TEMP for a temporary DNS error, else PERM.
- the PTR name is an address or malformed: both `unknown`, PERM.
- forward lookup (A for IPv4 clients, AAAA for IPv6) fails or returns other addresses: the
  verified name is `unknown` with status FORGED (TEMP for a temporary error); the reverse name
  keeps the PTR result with status OK. The warning text is returned for the caller to log:
  `hostname NAME does not resolve to address ADDR[: REASON]`.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from enum import Enum

from affix.dns.names import valid_hostaddr
from affix.dns.resolver import DnsAnswer, DnsStatus, Resolver


class NameStatus(Enum):
    """How a client name lookup ended (smtpd's and the restriction engine's view of it)."""

    OK = "ok"
    TEMP = "temp"  # temporary DNS failure
    PERM = "perm"  # no PTR
    FORGED = "forged"  # PTR does not resolve back to the address


UNKNOWN = "unknown"
_LOCALHOST = {"127.0.0.1", "::1"}

# glibc gai_strerror() texts, which Postfix shows as REASON (getaddrinfo errors).
_EAI_NONAME = "Name or service not known"
_EAI_NODATA = "No address associated with hostname"
_EAI_AGAIN = "Temporary failure in name resolution"
_EAI_FAIL = "Non-recoverable failure in name resolution"


@dataclass(frozen=True)
class ClientNames:
    name: str  # verified (forward-confirmed) name, or "unknown"
    reverse_name: str  # PTR result, or "unknown"
    name_status: NameStatus
    reverse_status: NameStatus
    warning: str | None = None  # for the caller to log as `warning: ...`
    addr: str = ""  # the client address as affix shows it (IPv4-mapped IPv6 -> IPv4)


@functools.lru_cache(maxsize=1024)  # once per connection, and clients come back
def normalize_address(addr: str) -> str:
    """`::ffff:1.2.3.4` -> `1.2.3.4` (§5.4); other addresses in their canonical text form."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return addr
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


async def lookup_client_name(resolver: Resolver, addr: str) -> ClientNames:
    """Reverse and forward-confirmed names of the client at ADDR (see the module docstring)."""
    addr = normalize_address(addr)
    if addr in _LOCALHOST:
        return ClientNames("localhost", "localhost", NameStatus.OK, NameStatus.OK, None, addr)
    if not valid_hostaddr(addr):
        return _unknown(NameStatus.PERM, addr)
    import dns.reversename  # dnspython is loaded at the first query (resolver.py)

    ptr = await resolver.query(dns.reversename.from_address(addr).to_text(True), "PTR")
    if ptr.status is DnsStatus.TEMPFAIL:
        return _unknown(NameStatus.TEMP, addr)
    if ptr.status is not DnsStatus.OK:
        return _unknown(NameStatus.PERM, addr)
    name = ptr.records[0]  # getnameinfo() gives the first PTR record
    if valid_hostaddr(name):
        return _unknown(NameStatus.PERM, addr, f"numeric hostname: {name}")
    return await _confirm(resolver, name, addr)


async def _confirm(resolver: Resolver, name: str, addr: str) -> ClientNames:
    """Forward lookup of NAME in ADDR's family; it must list ADDR."""
    ip = ipaddress.ip_address(addr)
    forward = await resolver.query(name, "A" if ip.version == 4 else "AAAA")
    if forward.status is not DnsStatus.OK:
        status = NameStatus.TEMP if forward.status is DnsStatus.TEMPFAIL else NameStatus.FORGED
        warning = f"hostname {name} does not resolve to address {addr}: {_gai_reason(forward)}"
        return ClientNames(UNKNOWN, name, status, NameStatus.OK, warning, addr)
    if any(_same_address(record, ip) for record in forward.records):
        return ClientNames(name, name, NameStatus.OK, NameStatus.OK, None, addr)
    warning = f"hostname {name} does not resolve to address {addr}"
    return ClientNames(UNKNOWN, name, NameStatus.FORGED, NameStatus.OK, warning, addr)


def _same_address(record: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(record) == ip
    except ValueError:
        return False


def _gai_reason(answer: DnsAnswer) -> str:
    """The getaddrinfo() error text an admin would see from Postfix for this DNS outcome."""
    if answer.status is DnsStatus.TEMPFAIL:
        return _EAI_AGAIN
    if answer.status is DnsStatus.MALFORMED:
        return _EAI_FAIL
    return _EAI_NONAME if answer.nxdomain else _EAI_NODATA


def _unknown(status: NameStatus, addr: str, warning: str | None = None) -> ClientNames:
    return ClientNames(UNKNOWN, UNKNOWN, status, status, warning, addr)
