"""HELO/EHLO name restrictions (restrictions.md §4; pitfalls P11, P12).

None of them compares the HELO name with the client's address or PTR name:
reject_unknown_helo_hostname only asks whether the name exists in the DNS.
"""

from __future__ import annotations

from affix.dns.names import valid_address_literal, valid_hostaddr, valid_hostname
from affix.policy.evaluation import Evaluation
from affix.policy.names import strip_one_dot
from affix.policy.registry import Result, restriction

HELO_CLASS = "Helo command"


def _precheck(ev: Evaluation) -> Result | None:
    """What every HELO restriction decides before looking at the name: nothing to check
    without a HELO, and a `[literal]` gets only the address-validity check."""
    helo = ev.state.helo
    if not helo:
        return Result.DUNNO
    if not helo.startswith("["):
        return None
    if valid_address_literal(helo):
        return Result.DUNNO
    return ev.reject(ev.cfg.int("invalid_hostname_reject_code"), "5.5.2",
                     f"<{helo}>: {HELO_CLASS} rejected: invalid ip address")


@restriction("reject_invalid_helo_hostname", old=("reject_invalid_hostname",))
async def reject_invalid_helo_hostname(ev: Evaluation, arg: str | None) -> Result:
    if (decided := _precheck(ev)) is not None:
        return decided
    helo = ev.state.helo or ""
    name = strip_one_dot(helo)
    # ASCII only, even with SMTPUTF8 on: a HELO name is no address (Postfix 3.7 says "Invalid
    # name" to `EHLO exämple.org`)
    if valid_hostname(name) or valid_hostaddr(name):
        return Result.DUNNO
    return ev.reject(ev.cfg.int("invalid_hostname_reject_code"), "5.5.2",
                     f"<{helo}>: {HELO_CLASS} rejected: Invalid name")


@restriction("reject_non_fqdn_helo_hostname", old=("reject_non_fqdn_hostname",))
async def reject_non_fqdn_helo_hostname(ev: Evaluation, arg: str | None) -> Result:
    if (decided := _precheck(ev)) is not None:
        return decided
    helo = ev.state.helo or ""
    name = strip_one_dot(helo)
    if valid_hostname(name) and "." in name:
        return Result.DUNNO
    return ev.reject(ev.cfg.int("non_fqdn_reject_code"), "5.5.2",
                     f"<{helo}>: {HELO_CLASS} rejected: need fully-qualified hostname")


@restriction("reject_unknown_helo_hostname", old=("reject_unknown_hostname",))
async def reject_unknown_helo_hostname(ev: Evaluation, arg: str | None) -> Result:
    """A, then AAAA, then MX of the HELO name; a bare IP is looked up as a name and fails."""
    if (decided := _precheck(ev)) is not None:
        return decided
    helo = ev.state.helo or ""
    status = await ev.engine.host_status(ev, strip_one_dot(helo))
    if status in ("OK", "NULLMX"):
        return Result.DUNNO
    code = ev.cfg.int("unknown_hostname_reject_code")
    if status == "TEMPFAIL":
        return ev.tempfail("unknown_helo_hostname_tempfail_action", 450, "4.7.1",
                           f"<{helo}>: {HELO_CLASS} rejected: Host not found")
    text = "Malformed DNS server reply" if status == "MALFORMED" else "Host not found"
    return ev.reject(code, "4.7.1", f"<{helo}>: {HELO_CLASS} rejected: {text}")
