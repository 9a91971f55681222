"""Relay control: permit_auth_destination, reject/defer_unauth_destination (§4).

The recipient is resolved the way trivial-rewrite does it: routing operators in the local part
(user@a@b, user%a@b, a!user@b, @route:user@b) are peeled off while the domain is one of ours,
and any such address counts as source-routed, which is never an authorized destination unless
allow_untrusted_routing=yes.
"""

from __future__ import annotations

from dataclasses import dataclass

from affix.config.netif import is_own_literal, own_interfaces
from affix.policy.evaluation import Evaluation
from affix.policy.names import canonical_address, strip_one_dot
from affix.policy.registry import Result, obsolete, restriction
from affix.tables import TableError


@dataclass(frozen=True)
class Destination:
    domain: str  # '' for an address without a domain (local)
    routed: bool
    final: bool  # we are the final destination
    relay: bool  # matches relay_domains


def is_final_domain(ev: Evaluation, domain: str) -> bool:
    """mydestination, our own [address] literals, virtual alias and mailbox domains."""
    if domain.startswith("["):
        return is_own_literal(domain, own_interfaces(ev.cfg))
    for param in ("mydestination", "virtual_alias_domains", "virtual_mailbox_domains"):
        if ev.engine.matchlist(param).match_domain(domain):
            return True
    return False


def _peel(local: str, domain: str, ev: Evaluation) -> tuple[str, str] | None:
    """One routing operator of the local part, as trivial-rewrite removes it."""
    if "@" in local:
        inner_local, _, inner_domain = local.rpartition("@")
        return inner_local, inner_domain
    if "%" in local and ev.cfg.bool("allow_percent_hack"):
        inner_local, _, inner_domain = local.rpartition("%")
        return inner_local, inner_domain
    if "!" in local and ev.cfg.bool("swap_bangpath"):
        inner_domain, _, inner_local = local.partition("!")
        return inner_local, inner_domain
    return None


def resolve(ev: Evaluation, address: str) -> Destination:
    routed = False
    if address.startswith("@") and ":" in address:  # RFC 5321 4.1.2 source route
        address, routed = address.split(":", 1)[1], True
    address = canonical_address(ev.cfg, address)
    local, at, domain = address.rpartition("@")
    if not at:
        return Destination("", routed, True, False)
    domain = strip_one_dot(domain).lower()
    final = is_final_domain(ev, domain)
    while final and (peeled := _peel(local, domain, ev)) is not None:
        local, domain = peeled[0], strip_one_dot(peeled[1]).lower()
        routed = True
        final = is_final_domain(ev, domain)
    routed = routed or any(c in local for c in "@%!")
    relay = not final and ev.engine.matchlist("relay_domains").match_domain(domain)
    return Destination(domain, routed, final, relay)


def authorized(ev: Evaluation, recipient: str) -> bool:
    """permit_auth_destination's test, shared with permit_dnswl_client."""
    try:
        dest = resolve(ev, recipient)
    except TableError as e:
        ev.table_failure(e, recipient)
    ev.note(f"destination {dest.domain or '(local)'}: final={dest.final} relay={dest.relay} "
            f"routed={dest.routed}")
    if not dest.domain:
        return True
    if dest.routed and not ev.cfg.bool("allow_untrusted_routing"):
        return False
    return dest.final or dest.relay


@restriction("permit_auth_destination")
async def permit_auth_destination(ev: Evaluation, arg: str | None) -> Result:
    if not ev.recipient:
        return Result.DUNNO
    return Result.OK if authorized(ev, ev.recipient) else Result.DUNNO


def _relay_denied(ev: Evaluation, code: int) -> Result:
    # No "Recipient address rejected:" here: Postfix's own wording.
    return ev.reject(code, "4.7.1", f"<{ev.recipient}>: Relay access denied")


@restriction("reject_unauth_destination")
async def reject_unauth_destination(ev: Evaluation, arg: str | None) -> Result:
    if not ev.recipient or authorized(ev, ev.recipient):
        return Result.DUNNO
    return _relay_denied(ev, ev.cfg.int("relay_domains_reject_code"))


@restriction("defer_unauth_destination")
async def defer_unauth_destination(ev: Evaluation, arg: str | None) -> Result:
    if not ev.recipient or authorized(ev, ev.recipient):
        return Result.DUNNO
    return _relay_denied(ev, ev.cfg.int("relay_domains_reject_code") - 100)


@obsolete("check_relay_domains", "reject_unauth_destination",
          'support for restriction "check_relay_domains" will be removed from Postfix; '
          'use "reject_unauth_destination" instead')
async def check_relay_domains(ev: Evaluation, arg: str | None) -> Result:
    """Postfix 1: permit clients in relay_domains and authorized destinations, else reject."""
    st = ev.state
    if not ev.recipient:
        return Result.DUNNO
    try:
        if ev.engine.matchlist("relay_domains").match_client(st.client_name, st.client_addr):
            return Result.OK
    except TableError as e:
        ev.table_failure(e, st.client)
    if authorized(ev, ev.recipient):
        return Result.OK
    return _relay_denied(ev, ev.cfg.int("relay_domains_reject_code"))
