"""DNS block and allow lists: reject_rbl_client, reject_rhsbl_*, permit_dnswl/rhswl (§6).

A listing is judged by affix.dns.dnsbl (reply filters, A then TXT); this module picks the
name to query, and turns a listing into a reply through rbl_reply_maps or default_rbl_reply.
A temporary DNS error counts as not listed for the reject_* forms (with a warning), and raises
defer_if_reject for the permit_* forms.
"""

from __future__ import annotations

import re

from affix.dns.names import valid_hostname
from affix.policy.evaluation import Evaluation
from affix.policy.names import domain_of, strip_one_dot
from affix.policy.registry import Arg, Result, obsolete, restriction
from affix.policy.response import parse_reply_text
from affix.policy.restrictions.relay import authorized
from affix.policy.template import expand_template
from affix.tables import TableError

CLIENT_CLASS = "Client host"


def _session_variables(ev: Evaluation) -> dict[str, str]:
    """The `$client...`, `$sender...`, `$recipient...` names of reply templates (§6)."""
    st = ev.state
    out = {"client": st.client, "client_address": st.client_addr,
           "client_name": st.client_name, "reverse_client_name": st.reverse_name}
    if st.helo is not None:
        out["helo_name"] = st.helo
    for kind, address in (("sender", st.sender), ("recipient", ev.recipient)):
        if address is not None:
            local, at, domain = address.rpartition("@")
            out[kind] = address
            out[f"{kind}_name"] = local if at else address
            out[f"{kind}_domain"] = domain if at else ""
    return out


def rbl_reply(ev: Evaluation, arg: str, rbl_class: str, what: str, txt: str) -> Result:
    """The reject for a listing: the template for `arg` exactly as written, expanded."""
    template = None
    maps = ev.cfg.get("rbl_reply_maps").strip()
    if maps:
        try:
            template = ev.engine.tables.maps(maps).lookup(arg)
        except TableError as e:
            ev.table_failure(e, what)
    if not template:
        template = ev.cfg.raw("default_rbl_reply") or ""
    variables = _session_variables(ev) | {
        "rbl_code": str(ev.cfg.int("maps_rbl_reject_code")), "rbl_domain": arg.split("=")[0],
        "rbl_class": rbl_class, "rbl_what": what, "rbl_reason": txt, "rbl_txt": txt}
    text = expand_template(ev.cfg, template, variables)
    parsed = parse_reply_text(text)
    if parsed is None:
        ev.warn(f"rbl response code configuration error: {text}")
        return ev.reject(450, "4.7.1", "Service unavailable")
    code, dsn, rest = parsed
    return ev.reject_fixed(code, dsn, rest, rbl_class)


async def _listed(ev: Evaluation, arg: str | None, name: str, what: str, kind: str,
                  ) -> tuple[bool, str, str | None]:
    """(listed, TXT, error) for `what` under the zone `arg`; a missing zone only warns."""
    if not arg:
        ev.warn(f"restriction {name} requires domain name argument")
        return False, "", None
    result = await ev.engine.rbl(ev, arg, what, kind)  # warns of a lookup error
    return result.listed, result.txt, result.error


async def _reject_if_listed(ev: Evaluation, arg: str | None, name: str, what: str, kind: str,
                            rbl_class: str, shown: str | None = None) -> Result:
    listed, txt, _ = await _listed(ev, arg, name, what, kind)
    if not listed or arg is None:
        return Result.DUNNO
    return rbl_reply(ev, arg, rbl_class, shown if shown is not None else what, txt)


def rhs_domain(name: str | None) -> str | None:
    """The name an RHSBL may query; None when it must be skipped (§6)."""
    if not name or name == "unknown":
        return None
    name = strip_one_dot(name)
    if not name or name.startswith("[") or re.fullmatch(r"[0-9]+", name.rsplit(".", 1)[-1]):
        return None
    try:
        ascii_name = name if name.isascii() else name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return ascii_name.lower() if valid_hostname(ascii_name) else None


@restriction("reject_rbl_client", arg=Arg.ZONE, old=("reject_rbl",))
async def reject_rbl_client(ev: Evaluation, arg: str | None) -> Result:
    addr = ev.state.client_addr
    return await _reject_if_listed(ev, arg, "reject_rbl_client", addr, "ip", CLIENT_CLASS)


@restriction("reject_rhsbl_client", arg=Arg.ZONE)
async def reject_rhsbl_client(ev: Evaluation, arg: str | None) -> Result:
    domain = rhs_domain(ev.state.client_name)
    if domain is None:
        return Result.DUNNO
    return await _reject_if_listed(ev, arg, "reject_rhsbl_client", domain, "domain",
                                   CLIENT_CLASS, ev.state.client_name)


@restriction("reject_rhsbl_reverse_client", arg=Arg.ZONE)
async def reject_rhsbl_reverse_client(ev: Evaluation, arg: str | None) -> Result:
    domain = rhs_domain(ev.state.reverse_name)
    if domain is None:
        return Result.DUNNO
    return await _reject_if_listed(ev, arg, "reject_rhsbl_reverse_client", domain, "domain",
                                   "Unverified Client host", ev.state.reverse_name)


@restriction("reject_rhsbl_helo", arg=Arg.ZONE)
async def reject_rhsbl_helo(ev: Evaluation, arg: str | None) -> Result:
    domain = rhs_domain(ev.state.helo)
    if domain is None:
        return Result.DUNNO
    return await _reject_if_listed(ev, arg, "reject_rhsbl_helo", domain, "domain",
                                   "Helo command", ev.state.helo)


async def _rhsbl_address(ev: Evaluation, arg: str | None, name: str, address: str | None,
                         rbl_class: str) -> Result:
    domain = rhs_domain(domain_of(address)) if address else None
    if domain is None or address is None:
        return Result.DUNNO
    return await _reject_if_listed(ev, arg, name, domain, "domain", rbl_class, address)


@restriction("reject_rhsbl_sender", arg=Arg.ZONE)
async def reject_rhsbl_sender(ev: Evaluation, arg: str | None) -> Result:
    return await _rhsbl_address(ev, arg, "reject_rhsbl_sender", ev.state.sender,
                                "Sender address")


@restriction("reject_rhsbl_recipient", arg=Arg.ZONE)
async def reject_rhsbl_recipient(ev: Evaluation, arg: str | None) -> Result:
    return await _rhsbl_address(ev, arg, "reject_rhsbl_recipient", ev.recipient,
                                "Recipient address")


async def _permit_if_listed(ev: Evaluation, arg: str | None, name: str, what: str,
                            kind: str) -> Result:
    listed, _, error = await _listed(ev, arg, name, what, kind)
    if error:
        return ev.raise_defer_if_reject(
            450, "4.7.1", f"<{what}>: {CLIENT_CLASS} rejected: Service unavailable")
    if not listed:
        return Result.DUNNO
    if ev.recipient and not authorized(ev, ev.recipient):
        ev.note("listed, but the recipient is not an authorized destination")
        return Result.DUNNO  # an allow list never opens the relay
    return Result.OK


@restriction("permit_dnswl_client", arg=Arg.ZONE)
async def permit_dnswl_client(ev: Evaluation, arg: str | None) -> Result:
    return await _permit_if_listed(ev, arg, "permit_dnswl_client", ev.state.client_addr, "ip")


@restriction("permit_rhswl_client", arg=Arg.ZONE)
async def permit_rhswl_client(ev: Evaluation, arg: str | None) -> Result:
    domain = rhs_domain(ev.state.client_name)
    if domain is None:
        return Result.DUNNO
    return await _permit_if_listed(ev, arg, "permit_rhswl_client", domain, "domain")


@obsolete("reject_maps_rbl", "reject_rbl_client",
          'support for restriction "reject_maps_rbl" will be removed from Postfix; '
          'use "reject_rbl_client domain-name" instead')
async def reject_maps_rbl(ev: Evaluation, arg: str | None) -> Result:
    """Postfix 1: reject_rbl_client for each zone of maps_rbl_domains (pitfalls P06)."""
    for zone in ev.cfg.list("maps_rbl_domains"):
        result = await reject_rbl_client(ev, zone)
        if result is not Result.DUNNO:
            return result
    return Result.DUNNO
