"""Client host restrictions: mynetworks, own interfaces, the client's DNS name (§4, §5)."""

from __future__ import annotations

from affix.config.netif import is_own_address
from affix.dns.names import valid_hostaddr
from affix.policy.evaluation import Evaluation
from affix.policy.registry import Result, obsolete, restriction
from affix.policy.request import NameStatus
from affix.tables import TableError


@restriction("permit_mynetworks")
async def permit_mynetworks(ev: Evaluation, arg: str | None) -> Result:
    st = ev.state
    try:
        matched = ev.engine.matchlist("mynetworks").match_client(st.client_name, st.client_addr)
    except TableError as e:
        ev.table_failure(e, st.client)
    if ev.trace is not None:
        ev.note(f"mynetworks {'matches' if matched else 'does not match'} {st.client}")
    return Result.OK if matched else Result.DUNNO


@restriction("permit_inet_interfaces")
async def permit_inet_interfaces(ev: Evaluation, arg: str | None) -> Result:
    """The client's address is one this server listens on (inet_interfaces only)."""
    own = is_own_address(ev.state.client_addr, ev.cfg.list("inet_interfaces"))
    return Result.OK if own else Result.DUNNO


@restriction("reject_unknown_client_hostname", old=("reject_unknown_client",))
async def reject_unknown_client_hostname(ev: Evaluation, arg: str | None) -> Result:
    """Forward-confirmed reverse DNS is required (pitfalls P09): PTR and A must agree."""
    st = ev.state
    ev.note(f"client name status {st.name_status.value}")
    if st.name_status is NameStatus.OK:
        return Result.DUNNO
    code = 450 if st.name_status is NameStatus.TEMP else ev.cfg.int("unknown_client_reject_code")
    return ev.reject(code, "4.7.25",
                     f"Client host rejected: cannot find your hostname, [{st.client_addr}]")


@restriction("reject_unknown_reverse_client_hostname")
async def reject_unknown_reverse_client_hostname(ev: Evaluation, arg: str | None) -> Result:
    st = ev.state
    ev.note(f"reverse name status {st.reverse_status.value}")
    if st.reverse_status is NameStatus.OK:
        return Result.DUNNO
    code = 450 if st.reverse_status is NameStatus.TEMP else \
        ev.cfg.int("unknown_client_reject_code")
    return ev.reject(code, "4.7.1", "Client host rejected: cannot find your reverse hostname, "
                                    f"[{st.client_addr}]")


@obsolete("permit_naked_ip_address", "permit_mynetworks",
          'support for restriction "permit_naked_ip_address" will be removed from Postfix; '
          'use "permit_mynetworks" or "permit_sasl_authenticated" instead')
async def permit_naked_ip_address(ev: Evaluation, arg: str | None) -> Result:
    """Postfix 1 era: permit a client whose HELO is a bare IP address."""
    helo = ev.state.helo
    return Result.OK if helo and valid_hostaddr(helo) else Result.DUNNO
