"""Static checks of the restriction lists, for `affix check` and smtpd start-up (config.md §3).

These find at configuration time what the engine would otherwise only discover when a client
reaches the bad element: unknown names, missing or malformed arguments, bad RBL reply filters.
"""

from __future__ import annotations

from collections.abc import Iterator

from affix.ascii import is_digits
from affix.config.snapshot import Config
from affix.dns.dnsbl import parse_rbl_spec
from affix.policy import lists as L
from affix.policy import restrictions as _restrictions  # noqa: F401 - registers them all
from affix.policy.evaluation import steps
from affix.policy.policy_client import PolicyEndpoint
from affix.policy.registry import Arg

# config.md §3: at least one of these must be in the relay or recipient list.
RELAY_BLOCKERS = frozenset({"reject_unauth_destination", "defer_unauth_destination", "reject",
                            "defer", "defer_if_permit", "check_relay_domains"})
_BARE = {L.CLIENT: True, L.HELO: True, L.SENDER: True, L.RELAY: True, L.RECIPIENT: True,
         L.ETRN: True, L.DATA: False, L.END_OF_DATA: False}


def relay_rule_holds(cfg: Config, past_permit: bool = False) -> bool:
    """config.md §3. `past_permit`: read on after a `permit` too (lint tells a blocker that a
    permit makes unreachable from a missing one)."""
    classes = frozenset(cfg.list("smtpd_restriction_classes"))
    return any(_has_blocker(cfg, cfg.list(p), classes, frozenset(), past_permit)
               for p in (L.RELAY, L.RECIPIENT))


def _has_blocker(cfg: Config, items: list[str], classes: frozenset[str],
                 seen: frozenset[str], past_permit: bool) -> bool:
    """Whether a blocker takes effect, read as Postfix's smtpd reads the list at start: the
    element after warn_if_reject only logs (a class named there too), and `permit` ends the
    list (what follows never runs). Anything else is an open relay that must not start."""
    i = 0
    while i < len(items):
        item, name = items[i], items[i].lower()
        i += 1
        if name == "warn_if_reject":
            i += 1
        elif name == "permit" and not past_permit:
            return False
        elif name in RELAY_BLOCKERS or (item in classes and item not in seen and _has_blocker(
                cfg, cfg.list(item), classes, seen | {item}, past_permit)):
            return True
    return False


def _argument_problem(cfg: Config, name: str, arg: Arg, value: str | None) -> str | None:
    if arg is Arg.TABLE:
        if value is None or ":" not in value:
            return f'restriction {name}: bad argument "{value or ""}": need maptype:mapname'
    elif value is None:
        return f"restriction {name} requires an argument"
    elif arg is Arg.ZONE:
        try:
            parse_rbl_spec(value)
        except ValueError as e:
            return f"restriction {name} {value}: {e}"
    elif arg is Arg.SERVICE:
        try:
            PolicyEndpoint.parse(cfg, value)
        except ValueError as e:
            return f"restriction {name} {value}: {e}"
    elif arg is Arg.NUMBER and not is_digits(value):
        return f'restriction {name}: bad argument "{value}": need a number'
    return None


def _list_problems(cfg: Config, param: str, items: list[str], classes: frozenset[str],
                   bare_ok: bool) -> list[str]:
    problems: list[tuple[str, str]] = []  # (the word at fault, what is wrong)
    for name, value, spec in steps(items):
        if spec is not None:
            if spec.arg is not Arg.NONE:
                problem = _argument_problem(cfg, name, spec.arg, value)
                if problem:
                    problems.append((name, problem))
        elif ":" in name:
            if not bare_ok:
                problems.append((name, f'a bare table "{name}" is not allowed here; '
                                 "write check_client_access (or another check_*_access) first"))
        elif name not in classes and name.lower() != "warn_if_reject":
            problems.append((name, f'unknown smtpd restriction: "{name}"'))
    return [f"{cfg.where_word(param, word)}: {param}: {p}" for word, p in problems]


def unix_policy_services(cfg: Config) -> Iterator[tuple[str, str, PolicyEndpoint]]:
    """(list, argument, endpoint) of each check_policy_service on a UNIX socket."""
    classes = sorted(set(cfg.list("smtpd_restriction_classes")))
    for param in [*L.ALL_LISTS, *classes]:
        for _, value, spec in steps(cfg.list(param)):
            if spec is None or spec.arg is not Arg.SERVICE or value is None:
                continue
            try:
                endpoint = PolicyEndpoint.parse(cfg, value)
            except ValueError:
                continue  # check_restrictions reports it
            if endpoint.kind == "unix":
                yield param, value, endpoint


def check_restrictions(cfg: Config) -> list[str]:
    """Every problem in the restriction lists and classes, as `file:line: param: problem`."""
    classes = frozenset(cfg.list("smtpd_restriction_classes"))
    problems: list[str] = []
    for param in L.ALL_LISTS:
        problems += _list_problems(cfg, param, cfg.list(param), classes, _BARE[param])
    for name in sorted(classes):
        problems += _list_problems(cfg, name, cfg.list(name), classes, True)
    if not relay_rule_holds(cfg):
        from affix.policy.engine import RELAY_RULE

        hint = ""
        major = cfg.get("compatibility_level").strip().split(".")[0]
        if not is_digits(major) or int(major) < 1:
            # the usual cause with a short main.cf: level 0 leaves smtpd_relay_restrictions
            # empty (Postfix's backwards-compatible default)
            hint = (" (compatibility_level is below 1, so smtpd_relay_restrictions is empty; "
                    "set compatibility_level = 3.7 for the current defaults)")
        problems.append(f"{cfg.where(L.RECIPIENT)}: {RELAY_RULE}{hint}")
    return problems
