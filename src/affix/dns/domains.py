"""Does a host name or a mail domain exist in DNS? (restrictions.md §4)

`host_lookup` serves reject_unknown_helo_hostname: A, then AAAA, then MX, stopping at the first
success (a null MX counts as one). `mail_domain_lookup` serves reject_unknown_sender_domain and
reject_unknown_recipient_domain: MX, and A/AAAA only when there is no MX; an MX with the empty
host (RFC 7505's `0 .`, or any preference, as Postfix reads it) is a null MX.

As in Postfix's dns_lookup_l(): any success wins; otherwise any temporary failure makes the
whole lookup temporary; otherwise the last lookup's status stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from affix.dns.names import valid_address_literal
from affix.dns.resolver import DnsAnswer, DnsStatus, Resolver


class DomainStatus(Enum):
    OK = "ok"
    NOTFOUND = "notfound"
    TEMPFAIL = "tempfail"
    MALFORMED = "malformed"
    NULLMX = "nullmx"


@dataclass(frozen=True)
class DomainResult:
    status: DomainStatus
    reason: str = ""  # resolver text, for logs
    records: tuple[str, ...] = ()  # the records of the successful lookup
    rdtype: str = ""  # which lookup decided ("A", "AAAA", "MX"; "" for literals)
    warnings: tuple[str, ...] = ()  # resolver warnings (malformed names in answers)

    @property
    def ok(self) -> bool:
        return self.status is DomainStatus.OK


_FROM_DNS = {DnsStatus.OK: DomainStatus.OK, DnsStatus.NOTFOUND: DomainStatus.NOTFOUND,
             DnsStatus.TEMPFAIL: DomainStatus.TEMPFAIL,
             DnsStatus.MALFORMED: DomainStatus.MALFORMED}


def _literal(name: str) -> DomainResult:
    """An address literal is not looked up; only its syntax counts."""
    if valid_address_literal(name):
        return DomainResult(DomainStatus.OK)
    return DomainResult(DomainStatus.NOTFOUND, f"invalid address literal: {name}")


async def _first_success(resolver: Resolver, name: str, rdtypes: tuple[str, ...],
                         warnings: tuple[str, ...] = ()) -> DomainResult:
    temp: DnsAnswer | None = None
    last: tuple[str, DnsAnswer] | None = None
    for rdtype in rdtypes:
        answer = await resolver.query(name, rdtype)
        warnings += answer.warnings
        if answer.ok:
            return DomainResult(DomainStatus.OK, "", answer.records, rdtype, warnings)
        if answer.status is DnsStatus.TEMPFAIL and temp is None:
            temp = answer
        last = (rdtype, answer)
    assert last is not None
    rdtype, answer = (rdtypes[0], temp) if temp is not None else last
    return DomainResult(_FROM_DNS[answer.status], answer.reason, (), rdtype, warnings)


async def host_lookup(resolver: Resolver, name: str) -> DomainResult:
    """A, then AAAA, then MX for NAME (a HELO argument); `[literal]`: syntax check only."""
    if name.startswith("["):
        return _literal(name)
    return await _first_success(resolver, name, ("A", "AAAA", "MX"))


async def mail_domain_lookup(resolver: Resolver, domain: str) -> DomainResult:
    """MX for DOMAIN, else A/AAAA when it has no MX; null MX and empty MX hosts detected."""
    if domain.startswith("["):
        return _literal(domain)
    mx = await resolver.query(domain, "MX")
    if mx.ok:
        return _judge_mx(domain, mx)
    if mx.status is not DnsStatus.NOTFOUND:
        return DomainResult(_FROM_DNS[mx.status], mx.reason, (), "MX", mx.warnings)
    if mx.nxdomain:
        # The name does not exist, so it has no A/AAAA either (RFC 8020).
        return DomainResult(DomainStatus.NOTFOUND, mx.reason, (), "MX", mx.warnings)
    return await _first_success(resolver, domain, ("A", "AAAA"), mx.warnings)


def _judge_mx(domain: str, mx: DnsAnswer) -> DomainResult:
    # an MX record with the empty host makes the answer a null MX, whatever its preference
    # and whatever else is there: RFC 7505 asks for a lone `0 .`, but Postfix 3.7's resolver
    # takes any empty host for one (restrictions.md calls the others malformed; Postfix wins)
    if any(record.endswith(" .") for record in mx.records):
        return DomainResult(DomainStatus.NULLMX, f"Domain {domain} does not accept mail (nullMX)",
                            mx.records, "MX", mx.warnings)
    return DomainResult(DomainStatus.OK, "", mx.records, "MX", mx.warnings)
