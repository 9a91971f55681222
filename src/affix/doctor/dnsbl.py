"""DNS blocklist pitfalls (pitfalls.md B): dead zones, wrong zones, Spamhaus without a reply
filter or behind a public resolver; with --dns, the RFC 5782 test points of each zone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

from affix.dns.dnsbl import parse_rbl_spec
from affix.dns.resolver import DnsStatus, Resolver, parse_servers
from affix.doctor.context import LintContext
from affix.doctor.findings import Finding, Severity, Where
from affix.doctor.registry import check, finding
from affix.doctor.zones import DEAD, DEAD_LISTS_ALL, SPAMHAUS, WRONG_ZONE, ZoneUse, zone_info
from affix.doctor.zones import zone_uses as _zone_uses

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741
SPAMHAUS_FILTER = "127.0.0.[2..11]"
# Resolvers that forward to Spamhaus from shared addresses: Spamhaus answers 127.255.255.254.
PUBLIC_RESOLVERS = frozenset({
    "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112",
    "208.67.222.222", "208.67.220.220", "64.6.64.6", "64.6.65.6", "94.140.14.14",
    "94.140.15.15", "2001:4860:4860::8888", "2001:4860:4860::8844", "2606:4700:4700::1111",
    "2606:4700:4700::1001", "2620:fe::fe", "2620:fe::9"})


def zone_uses(ctx: LintContext) -> list[ZoneUse]:
    return list(_zone_uses(ctx))


@check(("AFX-DNSBL-001", E, "a discontinued DNSBL zone"),
       ("AFX-DNSBL-002", E, "not a DNSBL zone (spamcop.net)"))
def dead_zones(ctx: LintContext) -> Iterator[Finding]:
    for use in zone_uses(ctx):
        info = zone_info(use.zone)
        if info is None:
            continue
        history = info.source
        if info.status == DEAD_LISTS_ALL:
            yield finding("AFX-DNSBL-001", use.item.where,
                          f"{use.restriction} {use.zone}: {use.zone} is a discontinued DNSBL "
                          "that may list every address", f"{history}; a zone that answers "
                          "every query rejects all mail", info.advice)
        elif info.status == DEAD:
            yield finding("AFX-DNSBL-001", use.item.where,
                          f"{use.restriction} {use.zone}: {use.zone} is a discontinued DNSBL",
                          f"{history}; its queries time out and slow down every RCPT, or "
                          "it may one day list everything", info.advice)
        elif info.status == WRONG_ZONE:
            yield finding("AFX-DNSBL-002", use.item.where,
                          f"{use.restriction} {use.zone}: not a DNSBL zone", info.source,
                          f"did you mean {info.advice.split()[-1]}?")


@check(("AFX-DNSBL-003", W, "Spamhaus zone without a reply filter"),
       ("AFX-DNSBL-004", I, "sbl.spamhaus.org instead of zen.spamhaus.org"))
def spamhaus(ctx: LintContext) -> Iterator[Finding]:
    for use in zone_uses(ctx):
        info = zone_info(use.zone)
        if info is None or info.status != SPAMHAUS:
            continue
        if use.rejects and not use.filtered:
            yield finding(
                "AFX-DNSBL-003", use.item.where,
                f"{use.restriction} {use.zone}: Spamhaus zone without reply filter",
                "Spamhaus answers 127.255.255.x error codes to queries from public resolvers "
                "or over its free volume, and without a filter any answer rejects the client",
                f"use {use.zone}={SPAMHAUS_FILTER} and a local recursive resolver "
                "(or Spamhaus DQS)")
        if use.zone.lower() == "sbl.spamhaus.org":
            yield finding("AFX-DNSBL-004", use.item.where,
                          "sbl.spamhaus.org: consider zen.spamhaus.org (SBL+XBL+PBL)",
                          "zen combines SBL, XBL and PBL in one query",
                          f"reject_rbl_client zen.spamhaus.org={SPAMHAUS_FILTER}")


def _resolvers(ctx: LintContext) -> tuple[list[str], Where]:
    """The DNS servers affix queries: affix_dns_servers, else /etc/resolv.conf."""
    try:
        servers = parse_servers(ctx.cfg.list("affix_dns_servers"))
    except ValueError:
        return [], ctx.where("affix_dns_servers")  # a startup error, not this check's
    if servers:
        return [host for host, _port in servers], ctx.where("affix_dns_servers")
    try:
        text = Path("/etc/resolv.conf").read_text()
    except OSError:
        return [], Where("/etc/resolv.conf")
    found = [fields[1] for fields in map(str.split, text.splitlines())
             if len(fields) > 1 and fields[0] == "nameserver"]
    return found, Where("/etc/resolv.conf")


def _is_spamhaus(zone: str) -> bool:
    info = zone_info(zone)
    return info is not None and info.status == SPAMHAUS


@check(("AFX-DNSBL-005", W, "DNSBL queries go through public resolvers only"))
def public_resolvers(ctx: LintContext) -> Iterator[Finding]:
    if not any(_is_spamhaus(u.zone) for u in zone_uses(ctx)):
        return
    hosts, where = _resolvers(ctx)
    if hosts and all(h in PUBLIC_RESOLVERS for h in hosts):
        yield finding("AFX-DNSBL-005", where,
                      f"DNS resolvers {', '.join(hosts)} are public resolvers only; DNSBL "
                      "answers may be error codes",
                      "Spamhaus refuses queries that arrive through public resolvers and "
                      "answers 127.255.255.254",
                      "run a local recursive resolver (e.g. unbound on 127.0.0.1) and point "
                      "affix_dns_servers at it")


# --- --dns: RFC 5782 section 5 test points -----------------------------------------------------

@check(("AFX-DNSBL-010", E, "--dns: the zone lists the 127.0.0.1 test point (lists everything)"),
       ("AFX-DNSBL-011", W, "--dns: the zone does not list the 127.0.0.2 test point (dead)"),
       ("AFX-DNSBL-012", W, "--dns: the zone does not answer"), dns=True)
def probe_zones(ctx: LintContext) -> Iterator[Finding]:
    uses = [u for u in zone_uses(ctx) if u.restriction.endswith("rbl_client")
            or u.restriction == "permit_dnswl_client"]
    if not uses:
        return
    resolver = Resolver.from_config(ctx.cfg)
    results = asyncio.run(_probe_all(resolver, uses))
    for use, (positive, negative) in zip(uses, results, strict=True):
        yield from _judge(use, positive, negative)


async def _probe_all(resolver: Resolver, uses: list[ZoneUse]) -> list[tuple[object, object]]:
    async def one(use: ZoneUse) -> tuple[object, object]:
        return (await resolver.query(f"2.0.0.127.{use.zone}", "A"),
                await resolver.query(f"1.0.0.127.{use.zone}", "A"))
    return list(await asyncio.gather(*(one(u) for u in uses)))


def _judge(use: ZoneUse, positive, negative) -> Iterator[Finding]:  # noqa: ANN001
    try:
        spec = parse_rbl_spec(use.item.text)
    except ValueError:
        return  # reported by AFX-RST-030
    listed = [a for a in negative.records if spec.matches(a)] if negative.ok else []
    if listed:
        yield finding("AFX-DNSBL-010", use.item.where,
                      f"{use.zone} lists 127.0.0.1 (answer {', '.join(listed)})",
                      "RFC 5782: 127.0.0.1 must never be listed; this zone lists everything "
                      f"and {use.restriction} rejects every client", "remove it")
    elif positive.status is DnsStatus.TEMPFAIL:
        yield finding("AFX-DNSBL-012", use.item.where,
                      f"{use.zone} does not answer ({positive.reason})",
                      "every lookup waits for the timeout and counts as not listed",
                      "check the zone name and the resolver; remove the zone if it is gone")
    elif not (positive.ok and any(spec.matches(a) for a in positive.records)):
        got = ", ".join(positive.records) if positive.ok else positive.status.name
        yield finding("AFX-DNSBL-011", use.item.where,
                      f"{use.zone} does not list its 127.0.0.2 test point (answer: {got})",
                      "RFC 5782: a working DNSBL lists 127.0.0.2; the zone is dead, or "
                      "refuses this resolver", "remove it, or query it through a resolver it "
                      "accepts")
