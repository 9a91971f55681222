"""affix's DNS resolver: dnspython's async stub resolver with statuses, a timeout and a cache.

Callers never see a DNS exception: `await resolver.query(name, "MX")` returns a DnsAnswer whose
status says what happened and whose reason is worded like Postfix's resolver messages, so log
lines read the same ("Host or domain name not found. Name service error for name=X type=A:
Host not found, try again").

Servers come from /etc/resolv.conf unless `affix_dns_servers` names them (affix-only, so tests
and admins can point DNSBL traffic at a local resolver). Each query waits `affix_dns_timeout`
and is retried at most once. Answers are cached per resolver for their TTL; negative answers for
the SOA minimum (RFC 2308 section 5); temporary failures are never cached.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from affix.ascii import is_digits
from affix.config.errors import ConfigError
from affix.dns.names import to_ascii, valid_hostaddr, valid_hostname

if TYPE_CHECKING:
    import dns.asyncbackend
    import dns.asyncresolver
    import dns.message
    import dns.name
    import dns.rdata
    import dns.resolver

    from affix.config.snapshot import Config

def _dnspython():  # noqa: ANN202 - the dns package
    """dnspython, imported at the first query: a server whose sessions never ask DNS does not
    carry its ~5 MB (issue 4: memory of idle sessions)."""
    import dns.asyncbackend
    import dns.asyncresolver
    import dns.exception
    import dns.message
    import dns.name
    import dns.nameserver
    import dns.rdata
    import dns.rdatatype
    import dns.resolver

    return dns


_COMMON_TYPES = frozenset({"A", "AAAA", "MX", "TXT", "PTR", "CNAME", "NS", "SOA", "TLSA"})
NEGATIVE_TTL_DEFAULT = 30  # seconds, for negative answers without an SOA record
MAX_TTL = 86400  # cap, so a bogus huge TTL cannot pin an answer for weeks
CACHE_SIZE = 1000

# Postfix dns_strerror() texts (h_errno values).
_HOST_NOT_FOUND = "Host not found"
_TRY_AGAIN = "Host not found, try again"
_NO_DATA = "Host found but no data record of requested type"


class DnsStatus(Enum):
    OK = "ok"
    NOTFOUND = "notfound"  # NXDOMAIN or NODATA
    TEMPFAIL = "tempfail"  # SERVFAIL, REFUSED, timeout, network error
    MALFORMED = "malformed"  # only unusable (malformed) records in the answer


@dataclass(frozen=True)
class DnsAnswer:
    """The result of one query. records are normalized texts:
    A/AAAA the address; MX "PREF host" (host lowercase, no trailing dot; "." for a null MX);
    TXT the strings of one record joined; PTR/CNAME/NS the name without the trailing dot."""

    status: DnsStatus
    records: tuple[str, ...] = ()
    reason: str = ""
    nxdomain: bool = False  # NOTFOUND because the name does not exist (not just no data)
    warnings: tuple[str, ...] = field(default=(), compare=False)  # for the caller to log

    @property
    def ok(self) -> bool:
        return self.status is DnsStatus.OK


class DnsCache:
    """A bounded LRU of answers, each valid until its own expiry time."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], tuple[float, DnsAnswer]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> DnsAnswer | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, answer = item
        if expires <= time.monotonic():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return answer

    def put(self, key: tuple[str, str], answer: DnsAnswer, ttl: float) -> None:
        if ttl <= 0 or self.size <= 0:
            return
        self._items[key] = (time.monotonic() + min(ttl, MAX_TTL), answer)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def parse_servers(items: list[str]) -> list[tuple[str, int]]:
    """`1.2.3.4`, `1.2.3.4:5353`, `[::1]:5353`, `[1.2.3.4]`, `::1` -> (address, port).

    Raises ValueError naming the bad item.
    """
    return [_parse_server(item) for item in items]


def _parse_server(item: str) -> tuple[str, int]:
    host, port = item, "53"
    if item.startswith("["):
        close = item.find("]")
        rest = item[close + 1:] if close > 0 else "?"
        if close < 0 or (rest and not rest.startswith(":")):
            raise ValueError(f"bad DNS server address: {item}")
        host, port = item[1:close], rest[1:] if rest else "53"
    elif item.count(":") == 1:
        host, port = item.split(":")
    if not is_digits(port) or not 0 < int(port) < 65536:
        raise ValueError(f"bad port in DNS server address: {item}")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"bad DNS server address: {item}") from None
    return (str(address), int(port))


class Resolver:
    """See the module docstring. One per process (or per config snapshot): it owns the cache."""

    def __init__(self, servers: list[tuple[str, int]] | None = None, timeout: float = 5.0,
                 cache_size: int = CACHE_SIZE) -> None:
        self.servers = list(servers) if servers else None
        self.timeout = timeout
        self.cache = DnsCache(cache_size)
        self._impl: dns.asyncresolver.Resolver | None = None
        self._made = False  # _impl is made at the first query (dnspython is imported then)

    def _get_impl(self) -> dns.asyncresolver.Resolver | None:
        if not self._made:
            self._made = True
            try:
                self._impl = _make_impl(self.servers, self.timeout)
            except _dnspython().exception.DNSException:
                self._impl = None  # no usable resolv.conf: every query is a temporary failure
        return self._impl

    @classmethod
    def from_config(cls, cfg: Config) -> Resolver:
        """Servers from affix_dns_servers (empty: /etc/resolv.conf), timeout affix_dns_timeout."""
        try:
            servers = parse_servers(cfg.list("affix_dns_servers"))
        except ValueError as e:
            raise ConfigError(f"affix_dns_servers: {e}", cfg.where("affix_dns_servers")) from None
        return cls(servers or None, float(cfg.time("affix_dns_timeout")))

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        """Look up NAME/RDTYPE. Never raises for DNS trouble; ValueError for an unknown type."""
        rtype = rdtype.upper()
        if rtype not in _COMMON_TYPES:  # anything else is checked (and named) by dnspython
            dns = _dnspython()
            try:
                rtype = dns.rdatatype.to_text(dns.rdatatype.from_text(rtype))
            except dns.exception.DNSException:
                raise ValueError(f"unknown DNS record type: {rdtype}") from None
        ascii_name = to_ascii(name)
        if ascii_name is not None:
            key = (ascii_name.lower(), rtype)
            cached = self.cache.get(key)
            if cached is not None:  # only valid names are looked up, and so cached
                return cached
        if ascii_name is None or valid_hostaddr(ascii_name) or not valid_hostname(ascii_name):
            # Postfix does not send these to the resolver either (dns_lookup).
            return DnsAnswer(DnsStatus.NOTFOUND, (),
                             f"Name service error for {name}: invalid host or domain name")
        answer, ttl = await self._lookup(ascii_name, rtype)
        if answer.status is not DnsStatus.TEMPFAIL:
            self.cache.put(key, answer, ttl)
        return answer

    async def _lookup(self, name: str, rtype: str) -> tuple[DnsAnswer, float]:
        dns = _dnspython()
        impl = self._get_impl()
        if impl is None:
            return DnsAnswer(DnsStatus.TEMPFAIL, (), "Name service initialization failure"), 0
        try:
            result = await impl.resolve(dns.name.from_text(name + "."), rtype,
                                        raise_on_no_answer=False, search=False,
                                        backend=_asyncio_backend())
        except dns.resolver.NXDOMAIN as e:
            return (DnsAnswer(DnsStatus.NOTFOUND, (), _why(name, rtype, _HOST_NOT_FOUND), True),
                    _negative_ttl(_first_response(e)))
        except (dns.resolver.NoAnswer, dns.resolver.YXDOMAIN):
            return DnsAnswer(DnsStatus.NOTFOUND, (), _why(name, rtype, _NO_DATA)), 0
        except (dns.exception.DNSException, OSError, EOFError):
            # NoNameservers (SERVFAIL, REFUSED, bad replies, unreachable), LifetimeTimeout, ...
            return DnsAnswer(DnsStatus.TEMPFAIL, (), _why(name, rtype, _TRY_AGAIN)), 0
        if result.rrset is None:
            return (DnsAnswer(DnsStatus.NOTFOUND, (), _why(name, rtype, _NO_DATA)),
                    _negative_ttl(result.response))
        return _positive(name, rtype, result)


def _asyncio_backend() -> dns.asyncbackend.Backend:
    """dnspython finds its default backend with sniffio, which sees asyncio only inside a Task;
    smtpd runs a command's coroutine eagerly, outside any Task, until it first waits
    (smtpd/eager.py), so the backend is named here rather than sniffed."""
    dns = _dnspython()
    return dns.asyncbackend.get_backend("asyncio")


def _make_impl(servers: list[tuple[str, int]] | None,
               timeout: float) -> dns.asyncresolver.Resolver:
    dns = _dnspython()
    impl = dns.asyncresolver.Resolver(configure=servers is None)
    if servers is not None:
        impl.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in servers]
    impl.cache = None  # affix keeps its own cache (negative answers, statuses)
    impl.timeout = timeout  # one attempt
    impl.lifetime = 2 * timeout + 0.2  # the attempt, one retry, and dnspython's retry backoff
    return impl


def _why(name: str, rtype: str, text: str) -> str:
    return f"Host or domain name not found. Name service error for name={name} type={rtype}: {text}"


def _first_response(e: dns.resolver.NXDOMAIN) -> dns.message.Message | None:
    responses = e.responses()
    return next(iter(responses.values()), None)


def _negative_ttl(response: dns.message.Message | None) -> float:
    """RFC 2308 5: the lesser of the SOA record's TTL and its MINIMUM field."""
    dns = _dnspython()
    if response is not None:
        for rrset in response.authority:
            if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
                return min(rrset.ttl, rrset[0].minimum)
    return NEGATIVE_TTL_DEFAULT


def _positive(name: str, rtype: str, result: dns.resolver.Answer) -> tuple[DnsAnswer, float]:
    records: list[str] = []
    warnings: list[str] = []
    assert result.rrset is not None
    for rdata in result.rrset:
        text, warning = _record_text(rdata, name)
        if warning:
            warnings.append(warning)
        if text is not None:
            records.append(text)
    ttl = result.chaining_result.minimum_ttl
    if not records:
        # Postfix dns_lookup: DNS_INVAL when every record was unusable.
        reason = (f"Name service error for name={name} type={rtype}: "
                  "Malformed or unexpected name server reply")
        return DnsAnswer(DnsStatus.MALFORMED, (), reason, False, tuple(warnings)), ttl
    return DnsAnswer(DnsStatus.OK, tuple(records), "", False, tuple(warnings)), ttl


def _record_text(rdata: dns.rdata.Rdata, qname: str) -> tuple[str | None, str | None]:
    """(normalized text or None when unusable, warning or None)."""
    dns = _dnspython()
    rtype = rdata.rdtype
    if rtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return rdata.address, None  # type: ignore[attr-defined]
    if rtype == dns.rdatatype.TXT:
        raw = b"".join(rdata.strings)  # type: ignore[attr-defined]
        text = raw.decode("utf-8", "replace")
        return "".join(c if c.isprintable() else " " for c in text), None
    if rtype == dns.rdatatype.MX:
        pref = rdata.preference  # type: ignore[attr-defined]
        if rdata.exchange == dns.name.root:  # type: ignore[attr-defined]
            return f"{pref} .", None  # RFC 7505 null MX (the caller decides what it means)
        host, warning = _rdata_name(rdata.exchange, "MX", qname)  # type: ignore[attr-defined]
        return (None if host is None else f"{pref} {host.lower()}"), warning
    if rtype in (dns.rdatatype.PTR, dns.rdatatype.CNAME, dns.rdatatype.NS):
        return _rdata_name(rdata.target, dns.rdatatype.to_text(rtype), qname)  # type: ignore
    return rdata.to_text(), None


def _rdata_name(target: dns.name.Name, rtype: str, qname: str) -> tuple[str | None, str | None]:
    """Postfix valid_rr_name(): numeric names pass with a warning, malformed ones are dropped."""
    dns = _dnspython()
    try:
        host = target.to_text(omit_final_dot=True)
    except dns.exception.DNSException:
        host = "*unparsable*"
    if valid_hostaddr(host):
        return host, f"numeric domain name in resource data of {rtype} record for {qname}: {host}"
    if not valid_hostname(host):
        return None, (f"malformed domain name in resource data of {rtype} record for "
                      f"{qname}: {host[:100]}")
    return host, None
