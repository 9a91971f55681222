"""reject_unlisted_recipient / reject_unlisted_sender: is the address a known user? (§4)

Which tables apply depends on the address class: local domains use local_recipient_maps (empty
means any user is accepted), virtual alias domains virtual_alias_maps, virtual mailbox domains
virtual_mailbox_maps, relay domains relay_recipient_maps (empty: any). virtual_alias_maps is
consulted first for every class. The recipient validation proper belongs to delivery; this is
the SMTP-time lookup through the same tables.
"""

from __future__ import annotations

from affix.config.netif import is_own_literal, own_interfaces
from affix.policy.evaluation import Evaluation
from affix.policy.names import canonical_address, strip_one_dot
from affix.policy.registry import Result, restriction
from affix.policy.restrictions.access import RECIPIENT_CLASS, SENDER_CLASS
from affix.tables import TableError
from affix.tables.access import virtual_address_keys


def _keys(ev: Evaluation, local: str, domain: str, local_domain: bool) -> list[str]:
    return virtual_address_keys(local, domain, ev.cfg.get("recipient_delimiter"), local_domain)


def found_in(ev: Evaluation, param: str, keys: list[str]) -> bool:
    """Search every table of a *_maps parameter (unix:passwd.byname holds the system users)."""
    for spec in ev.cfg.list(param):
        table = ev.engine.tables.get(spec)
        hit = any(table.lookup(k) is not None for k in (keys if table.fixed else keys[:1]))
        if ev.trace is not None:
            ev.note(f"{spec}: {'found' if hit else 'no entry for'} {keys[0]}")
        if hit:
            return True
    return False


def _is_local_domain(ev: Evaluation, domain: str) -> bool:
    if domain.startswith("["):
        return is_own_literal(domain, own_interfaces(ev.cfg))
    return ev.engine.matchlist("mydestination").match_domain(domain)


def _which_table(ev: Evaluation, local: str, domain: str) -> str | None:
    """The table the address is missing from, or None when it is known (or not checkable)."""
    plain = _keys(ev, local, domain, False)
    if ev.cfg.get("virtual_alias_maps").strip() and \
            found_in(ev, "virtual_alias_maps", plain):
        return None
    if _is_local_domain(ev, domain):
        if not ev.cfg.get("local_recipient_maps").strip():
            return None
        keys = _keys(ev, local, domain, True)
        return None if found_in(ev, "local_recipient_maps", keys) else "local recipient"
    ml = ev.engine.matchlist
    if ml("virtual_alias_domains").match_domain(domain):
        return "virtual alias"
    if ml("virtual_mailbox_domains").match_domain(domain):
        return None if found_in(ev, "virtual_mailbox_maps", plain) else "virtual mailbox"
    if ml("relay_domains").match_domain(domain) and ev.cfg.get("relay_recipient_maps").strip():
        return None if found_in(ev, "relay_recipient_maps", plain) else "relay recipient"
    return None


_CODES = {"local recipient": "unknown_local_recipient_reject_code",
          "virtual alias": "unknown_virtual_alias_reject_code",
          "virtual mailbox": "unknown_virtual_mailbox_reject_code",
          "relay recipient": "unknown_relay_recipient_reject_code"}


def check_unlisted(ev: Evaluation, address: str | None, reply_class: str) -> Result:
    if not address:
        return Result.DUNNO
    canonical = canonical_address(ev.cfg, address).lower()
    local, _, domain = canonical.rpartition("@")
    if not local:
        return Result.DUNNO
    try:
        missing = _which_table(ev, local, strip_one_dot(domain))
    except TableError as e:
        ev.table_failure(e, address)
    if missing is None:
        return Result.DUNNO
    where = f" in {missing} table" if ev.cfg.bool("show_user_unknown_table_name") else ""
    dsn = "5.1.0" if reply_class == SENDER_CLASS else "5.1.1"
    return ev.reject(ev.cfg.int(_CODES[missing]), dsn,
                     f"<{address}>: {reply_class} rejected: User unknown{where}")


@restriction("reject_unlisted_recipient", old=("check_recipient_maps",))
async def reject_unlisted_recipient(ev: Evaluation, arg: str | None) -> Result:
    # a run under warn_if_reject only warns: the implicit check still follows (Postfix)
    ev.unlisted_recipient_checked = ev.unlisted_recipient_checked or not ev.warn_if_reject
    return check_unlisted(ev, ev.recipient, RECIPIENT_CLASS)


@restriction("reject_unlisted_sender")
async def reject_unlisted_sender(ev: Evaluation, arg: str | None) -> Result:
    ev.unlisted_sender_checked = ev.unlisted_sender_checked or not ev.warn_if_reject
    return check_unlisted(ev, ev.state.sender, SENDER_CLASS)
