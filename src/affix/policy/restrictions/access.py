"""check_*_access restrictions and the effect of an access(5) action (tables.md §3-4).

Address and host restrictions reply with their own class (`Sender address`, ...), whatever list
they stand in; the generic restrictions use the list's class.
"""

from __future__ import annotations

from collections.abc import Callable

from affix.policy.evaluation import MAX_NESTING, Evaluation, steps
from affix.policy.names import canonical_address
from affix.policy.registry import Arg, Result, restriction
from affix.policy.request import Stage
from affix.tables import access as acc

CLIENT_CLASS = "Client host"
HELO_CLASS = "Helo command"
SENDER_CLASS = "Sender address"
RECIPIENT_CLASS = "Recipient address"
ETRN_CLASS = "Etrn command"

# Actions that change the message; they make no sense for ETRN, nor for client/helo checks
# made before the transaction exists (smtpd_delay_reject=no).
_MESSAGE_ACTIONS = (acc.Hold, acc.Discard, acc.Filter, acc.Redirect, acc.Bcc, acc.Prepend)


def _parent_style(ev: Evaluation) -> bool:
    return "smtpd_access_maps" in ev.cfg.list("parent_domain_matches_subdomains")


def _needs_table(ev: Evaluation, name: str, arg: str | None) -> str:
    if arg is None or ":" not in arg:
        ev.server_error(f'restriction {name}: bad argument "{arg or ""}": '
                        "need maptype:mapname")
    return arg


async def check_access(ev: Evaluation, name: str, table: str | None,
                       keys_for: Callable[[bool], list[str]], reply_name: str,
                       reply_class: str, forbid_ok: bool = False) -> Result:
    """Search `table` with the keys and apply the action found (DUNNO when none)."""
    spec = _needs_table(ev, name, table)
    found = ev.search_table(spec, keys_for, reply_name)
    if found is None:
        return Result.DUNNO
    return await apply_action(ev, acc.parse_action(found.value), spec, found.key, reply_name,
                              reply_class, forbid_ok, name)


def _default_text(text: str | None, default: str) -> str:
    return text if text else default


async def apply_action(ev: Evaluation, action: acc.Action, table: str, key: str,
                       reply_name: str, reply_class: str, forbid_ok: bool = False,
                       restriction_name: str = "") -> Result:
    """One access(5) action (tables.md §4)."""
    prefix = f"<{reply_name}>: {reply_class}"
    match action:
        case acc.Permit(word):
            return _permit(ev, word, table, reply_name, reply_class, forbid_ok,
                           restriction_name)
        case acc.Reject(kind, code, dsn, text):
            if kind == "REJECT":
                code, default_dsn = ev.cfg.int("access_map_reject_code"), "5.7.1"
            elif kind == "DEFER":
                code, default_dsn = ev.cfg.int("access_map_defer_code"), "4.7.1"
            else:
                default_dsn = "4.7.1" if str(code).startswith("4") else "5.7.1"
            reply = f"{prefix} rejected: {_default_text(text, 'Access denied')}"
            if dsn:
                return ev.reject_fixed(code, dsn, reply, reply_class)
            return ev.reject(code, default_dsn, reply)
        case acc.DeferIfReject(dsn, text) | acc.DeferIfPermit(dsn, text):
            reply = f"{prefix} rejected: {_default_text(text, 'Service unavailable')}"
            code = ev.cfg.int("access_map_defer_code")
            raise_flag = ev.raise_defer_if_reject if isinstance(action, acc.DeferIfReject) \
                else ev.raise_defer_if_permit
            return raise_flag(code, dsn or "4.7.1", reply)
        case acc.Dunno():
            return Result.DUNNO
        case acc.Warn(text) | acc.Info(text):
            ev.log_action("warn" if isinstance(action, acc.Warn) else "info", text)
            return Result.DUNNO
        case acc.Restrictions(names):
            ev.note(f"{table}: {key} -> restrictions {' '.join(names)}")
            if ev.recursion >= MAX_NESTING:  # Postfix's words, naming the entry at fault
                ev.server_error(f"access table {table} entry {' '.join(names)} causes "
                                "unreasonable recursion")
            return await ev.walk(steps(names))
        case acc.BadEntry("", value, _):
            ev.server_error(f"SMTPD access map {table} has entry with lookup table: {value}",
                            "do not specify lookup tables inside SMTPD access maps",
                            "define a restriction class and specify its name instead.")
        case acc.BadEntry(word, value, problem):
            ev.warn(f'access table {table} entry "{key}" {problem}')
            return Result.DUNNO
    return _message_action(ev, action, table, prefix)


def _permit(ev: Evaluation, word: str, table: str, reply_name: str, reply_class: str,
            forbid_ok: bool, restriction_name: str) -> Result:
    if forbid_ok:
        ev.server_error(f"restriction {restriction_name} returns OK for {reply_name}",
                        "this is not allowed for security reasons",
                        "use DUNNO instead of OK if you want to make an exception")
    if word.lower() in [a.lower() for a in ev.cfg.list("smtpd_log_access_permit_actions")]:
        ev.log_action("permit", f"action={word} for {reply_class}={reply_name} from {table}")
    return Result.OK


def _message_action(ev: Evaluation, action: acc.Action, table: str, prefix: str) -> Result:
    """HOLD, DISCARD, FILTER, REDIRECT, BCC, PREPEND: they act on the whole message."""
    word = type(action).__name__.upper()
    if ev.stage is Stage.ETRN:
        ev.warn(f"access table {table}: action {word} is always skipped in ETRN")
        return Result.DUNNO
    early = not ev.engine.delay_reject and ev.lst.param in (
        "smtpd_client_restrictions", "smtpd_helo_restrictions")
    if early:
        ev.warn(f"access table {table}: with smtpd_delay_reject=no, action {word} is always "
                "skipped in Client host or Helo command restrictions")
        return Result.DUNNO
    v = ev.verdict
    match action:
        case acc.Hold(text):
            if v.hold is None and not ev.engine.holding(ev.state):  # logged once, as Postfix
                v.hold = _default_text(text, "triggers HOLD action")
                ev.log_action("hold", f"{prefix} {v.hold}")
        case acc.Discard(text):
            v.discard = _default_text(text, "triggers DISCARD action")
            ev.log_action("discard", f"{prefix} {v.discard}")
            return Result.OK  # a discard accepts the request
        case acc.Filter(target):
            v.filter = target
            ev.log_action("filter", f"{prefix} triggers FILTER {target}")
        case acc.Redirect(target):
            v.redirect = target
            ev.log_action("redirect", f"{prefix} triggers REDIRECT {target}")
        case acc.Bcc(target):
            v.bcc.append(target)
            ev.log_action("bcc", f"{prefix} triggers BCC {target}")
        case acc.Prepend(header):
            if ev.stage is Stage.END_OF_DATA:
                ev.warn(f"access table {table}: action PREPEND must be used before "
                        "smtpd_end_of_data_restrictions")
            else:
                v.prepend.append(header)
    return Result.DUNNO


# --- the check_*_access restrictions ----------------------------------------------------------

@restriction("check_client_access", arg=Arg.TABLE)
async def check_client_access(ev: Evaluation, arg: str | None) -> Result:
    st, parent = ev.state, _parent_style(ev)
    return await check_access(
        ev, "check_client_access", arg,
        lambda fixed: acc.client_keys(st.client_name, st.client_addr, fixed, parent),
        st.client, CLIENT_CLASS)


@restriction("check_reverse_client_hostname_access", arg=Arg.TABLE)
async def check_reverse_client_hostname_access(ev: Evaluation, arg: str | None) -> Result:
    """The unverified PTR name, then the address; OK is refused (tables.md §4)."""
    st, parent = ev.state, _parent_style(ev)
    return await check_access(
        ev, "check_reverse_client_hostname_access", arg,
        lambda fixed: acc.client_keys(st.reverse_name, st.client_addr, fixed, parent),
        f"{st.reverse_name}[{st.client_addr}]", CLIENT_CLASS, forbid_ok=True)


@restriction("check_helo_access", arg=Arg.TABLE)
async def check_helo_access(ev: Evaluation, arg: str | None) -> Result:
    helo = ev.state.helo
    if not helo:
        _needs_table(ev, "check_helo_access", arg)
        return Result.DUNNO
    parent = _parent_style(ev)
    return await check_access(ev, "check_helo_access", arg,
                              lambda fixed: acc.host_keys(helo, fixed, parent),
                              helo, HELO_CLASS)


@restriction("check_etrn_access", arg=Arg.TABLE)
async def check_etrn_access(ev: Evaluation, arg: str | None) -> Result:
    domain = ev.state.etrn_domain
    if not domain:
        _needs_table(ev, "check_etrn_access", arg)
        return Result.DUNNO
    parent = _parent_style(ev)
    return await check_access(ev, "check_etrn_access", arg,
                              lambda fixed: acc.host_keys(domain, fixed, parent),
                              domain, ETRN_CLASS)


def mail_keys(ev: Evaluation, address: str) -> Callable[[bool], list[str]]:
    """Keys for a sender/recipient; the null sender has exactly one key."""
    if address == "":
        null_key = ev.cfg.get("smtpd_null_access_lookup_key")
        return lambda fixed: [null_key]
    canonical = canonical_address(ev.cfg, address)
    parent, delim = _parent_style(ev), ev.cfg.get("recipient_delimiter")
    return lambda fixed: acc.mail_address_keys(canonical, fixed, parent, delim)


@restriction("check_sender_access", arg=Arg.TABLE)
async def check_sender_access(ev: Evaluation, arg: str | None) -> Result:
    sender = ev.state.sender
    if sender is None:
        _needs_table(ev, "check_sender_access", arg)
        return Result.DUNNO
    return await check_access(ev, "check_sender_access", arg, mail_keys(ev, sender),
                              sender, SENDER_CLASS)


def source_routed(address: str) -> bool:
    """user@a@b, user%b@a, a!user@b: routing operators in the local part."""
    local = address.rpartition("@")[0]
    return any(c in local for c in "@%!")


@restriction("check_recipient_access", arg=Arg.TABLE)
async def check_recipient_access(ev: Evaluation, arg: str | None) -> Result:
    rcpt = ev.recipient
    if not rcpt:
        _needs_table(ev, "check_recipient_access", arg)
        return Result.DUNNO
    result = await check_access(ev, "check_recipient_access", arg, mail_keys(ev, rcpt),
                                rcpt, RECIPIENT_CLASS)
    if result is Result.OK and source_routed(rcpt) and \
            not ev.cfg.bool("allow_untrusted_routing"):
        ev.note("OK ignored for a source-routed address (allow_untrusted_routing=no)")
        return Result.DUNNO
    return result
