"""Sender and recipient address restrictions: FQDN syntax and domain existence (§4)."""

from __future__ import annotations

from affix.dns.names import valid_hostname
from affix.policy.evaluation import Evaluation
from affix.policy.names import canonical_address, domain_of, strip_one_dot
from affix.policy.registry import Result, restriction
from affix.policy.restrictions.relay import is_final_domain
from affix.tables import TableError

SENDER_CLASS = "Sender address"
RECIPIENT_CLASS = "Recipient address"


def _non_fqdn(ev: Evaluation, address: str | None, reply_class: str) -> Result:
    if not address:  # unknown yet, or the null sender
        return Result.DUNNO
    domain = strip_one_dot(domain_of(address))
    if domain.startswith("["):
        return Result.DUNNO
    if valid_hostname(domain, ev.cfg.bool("smtputf8_enable")) and "." in domain:
        return Result.DUNNO
    return ev.reject(ev.cfg.int("non_fqdn_reject_code"), "5.5.2",
                     f"<{address}>: {reply_class} rejected: need fully-qualified address")


@restriction("reject_non_fqdn_sender")
async def reject_non_fqdn_sender(ev: Evaluation, arg: str | None) -> Result:
    return _non_fqdn(ev, ev.state.sender, SENDER_CLASS)


@restriction("reject_non_fqdn_recipient")
async def reject_non_fqdn_recipient(ev: Evaluation, arg: str | None) -> Result:
    return _non_fqdn(ev, ev.recipient, RECIPIENT_CLASS)


# (DSN for not found, null MX reply code and DSN) per class
_UNKNOWN = {SENDER_CLASS: ("4.1.8", 550, "5.7.27"), RECIPIENT_CLASS: ("4.1.2", 556, "5.1.10")}


async def _unknown_domain(ev: Evaluation, address: str | None, reply_class: str) -> Result:
    if not address:
        return Result.DUNNO
    domain = strip_one_dot(domain_of(canonical_address(ev.cfg, address))).lower()
    if not domain or domain.startswith("["):
        return Result.DUNNO
    try:
        if is_final_domain(ev, domain):
            return Result.DUNNO
    except TableError as e:
        ev.table_failure(e, address)
    status = await ev.engine.mail_domain_status(ev, domain)
    notfound_dsn, nullmx_code, nullmx_dsn = _UNKNOWN[reply_class]
    prefix = f"<{address}>: {reply_class} rejected"
    if status == "OK":
        return Result.DUNNO
    if status == "NULLMX":  # RFC 7505 3
        return ev.reject(nullmx_code, nullmx_dsn,
                         f"{prefix}: Domain {domain} does not accept mail (nullMX)")
    if status == "TEMPFAIL":
        return ev.tempfail("unknown_address_tempfail_action", 450, notfound_dsn,
                           f"{prefix}: Domain not found")
    text = "Malformed DNS server reply" if status == "MALFORMED" else "Domain not found"
    return ev.reject(ev.cfg.int("unknown_address_reject_code"), notfound_dsn,
                     f"{prefix}: {text}")


@restriction("reject_unknown_sender_domain")
async def reject_unknown_sender_domain(ev: Evaluation, arg: str | None) -> Result:
    return await _unknown_domain(ev, ev.state.sender, SENDER_CLASS)


@restriction("reject_unknown_recipient_domain")
async def reject_unknown_recipient_domain(ev: Evaluation, arg: str | None) -> Result:
    return await _unknown_domain(ev, ev.recipient, RECIPIENT_CLASS)
