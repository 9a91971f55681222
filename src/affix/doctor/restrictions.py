"""Restriction-list pitfalls (pitfalls.md B-C): the relay rule, order, old names, dead ends.

Lists are read through LintContext.restriction_lists(), paired into (restriction, argument)
with the policy registry; static errors come from affix.policy.validate.check_restrictions.
"""

from __future__ import annotations

from collections.abc import Iterator

from affix.doctor.context import LintContext, Service, Step
from affix.doctor.findings import Finding, Severity, Where
from affix.doctor.registry import check, finding
from affix.policy import lists as L
from affix.policy.engine import RELAY_RULE
from affix.policy.validate import check_restrictions, relay_rule_holds

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741
DNSBL_REJECTS = frozenset({"reject_rbl_client", "reject_rhsbl_client", "reject_rhsbl_sender",
                           "reject_rhsbl_reverse_client", "reject_rhsbl_helo",
                           "reject_rhsbl_recipient", "reject_maps_rbl"})
UNCONDITIONAL_PERMIT = frozenset({"permit"})
UNCONDITIONAL_REJECT = frozenset({"reject", "defer"})


def _current(step: Step) -> str:
    """The restriction's current name (old aliases resolved); the text for unknown names."""
    if step.spec is None:
        return step.name
    return step.spec.current if step.spec.deprecation and step.spec.current and \
        "obsolete name" in step.spec.deprecation else step.spec.name


@check(("AFX-RST-001", W, "reject_maps_rbl is obsolete"),
       ("AFX-RST-010", I, "an old restriction name"),
       ("AFX-RST-025", W, "a restriction removed in Postfix 3.9"))
def old_names(ctx: LintContext) -> Iterator[Finding]:
    for rl in ctx.restriction_lists():
        for step in rl.steps:
            spec = step.spec
            if spec is None or not spec.current:
                continue
            if spec.name == "reject_maps_rbl":
                zones = ", ".join(ctx.cfg.list("maps_rbl_domains")) or "ZONE"
                yield finding("AFX-RST-001", step.item.where,
                              "reject_maps_rbl is obsolete (removed in Postfix 3.9)",
                              "it works in 3.7 compatibility mode but logs a warning; "
                              "from 3.9 on it answers 451 4.3.5 to every request",
                              f'use "reject_rbl_client ZONE" for each entry of '
                              f"maps_rbl_domains ({zones})")
            elif spec.deprecation and "obsolete name" in spec.deprecation:
                yield finding("AFX-RST-010", step.item.where,
                              f"{step.item.text} is an old name; use {spec.current}",
                              "renamed in Postfix 2.3; the old name still works",
                              f"write {spec.current}")
            else:
                yield finding("AFX-RST-025", step.item.where,
                              f"{step.item.text} is obsolete (removed in Postfix 3.9)",
                              "it still works in affix and Postfix 3.7 but logs a warning",
                              f"use {spec.current}")


@check(("AFX-RST-002", E, "no relay-blocking restriction (smtpd does not start)"),
       ("AFX-RST-005", E, "open relay: every relay-blocking restriction is unreachable"))
def relay_rule(ctx: LintContext) -> Iterator[Finding]:
    for service in ctx.services:
        where = _relay_where(ctx, service)
        tag = service.tag(L.RELAY, L.RECIPIENT)
        if relay_rule_holds(service.cfg):
            continue
        if relay_rule_holds(service.cfg, past_permit=True):
            yield finding("AFX-RST-005", where,
                          f"{tag}open relay: every relay-blocking restriction comes after an "
                          "unconditional permit",
                          "the permit ends the list before reject_unauth_destination runs, "
                          "so anyone could relay mail through this server (smtpd refuses to "
                          "start)",
                          "put reject_unauth_destination before the permit")
        else:
            yield finding("AFX-RST-002", where, tag + RELAY_RULE,
                          "smtpd refuses to start; without such a restriction the server "
                          "would be an open relay",
                          "add reject_unauth_destination after permit_mynetworks and "
                          "permit_sasl_authenticated in smtpd_relay_restrictions")


def _relay_where(ctx: LintContext, service: Service) -> Where:
    """The list to blame: one the service overrides, else the one main.cf sets."""
    overridden = service.overrides(L.RELAY, L.RECIPIENT)
    if overridden:
        return ctx.where(overridden[0], service)
    if not ctx.entry(L.RECIPIENT) and ctx.entry(L.RELAY):
        return ctx.where(L.RELAY, service)
    return ctx.where(L.RECIPIENT, service)


def expanded(ctx: LintContext, service: Service, steps: tuple[Step, ...],
              seen: frozenset[str]) -> Iterator[Step]:
    """Steps with restriction classes replaced by their contents."""
    from affix.doctor.context import pair_steps

    classes = ctx.classes(service)
    for step in steps:
        if step.spec is None and step.item.text in classes and step.item.text not in seen:
            inner = tuple(pair_steps(ctx.items(step.item.text, service)))
            yield from expanded(ctx, service, inner, seen | {step.item.text})
        else:
            yield step


@check(("AFX-RST-003", W, "DNSBL checks before the local access table"),
       ("AFX-RST-004", W, "DNSBL checks before permit_sasl_authenticated"))
def dnsbl_order(ctx: LintContext) -> Iterator[Finding]:
    for rl in ctx.restriction_lists():
        first_dnsbl: Step | None = None
        sasl_seen = False
        for step in rl.steps:
            name = _current(step)
            if name in DNSBL_REJECTS and first_dnsbl is None:
                first_dnsbl = step
                if not sasl_seen and _sasl_on(rl.service):
                    yield _sasl_finding(step, "SASL authentication is enabled and no "
                                        "permit_sasl_authenticated comes before it")
            elif name == "permit_sasl_authenticated":
                if first_dnsbl is not None and not _sasl_on(rl.service):
                    yield _sasl_finding(first_dnsbl, "permit_sasl_authenticated comes later "
                                        "in the same list")
                sasl_seen = True
            elif first_dnsbl is not None and (name.startswith("check_") and
                                              name.endswith("_access") or step.is_table):
                table = step.arg.text if step.arg else step.item.text
                yield finding("AFX-RST-003", step.item.where,
                              f"DNSBL checks ({first_dnsbl.label}, line "
                              f"{first_dnsbl.item.where.line}) precede local access table "
                              f"{table}", "local exceptions (OK entries) cannot override them",
                              f"move {step.item.text} {table} before the reject_rbl_client "
                              "entries")


def _sasl_on(service: Service) -> bool:
    return service.cfg.bool("smtpd_sasl_auth_enable")


def _sasl_finding(step: Step, why: str) -> Finding:
    return finding("AFX-RST-004", step.item.where,
                   f"{step.label} before permit_sasl_authenticated; authenticated users may "
                   "be blocked", f"{why}; users on dynamic addresses are often listed",
                   "start the list with permit_mynetworks, permit_sasl_authenticated")


@check(("AFX-RST-011", I, "reject_unknown_client_hostname needs forward-confirmed DNS"))
def unknown_client(ctx: LintContext) -> Iterator[Finding]:
    for rl in ctx.restriction_lists():
        for step in rl.steps:
            if _current(step) == "reject_unknown_client_hostname":
                yield finding("AFX-RST-011", step.item.where,
                              f"{step.item.text} requires forward-confirmed reverse DNS, not "
                              "just a PTR record",
                              "many legitimate servers fail it and are refused with 450 for "
                              "up to 5 days", "consider reject_unknown_reverse_client_hostname")


@check(("AFX-RST-012", I, "a 5xx unknown_*_reject_code"))
def permanent_unknown_codes(ctx: LintContext) -> Iterator[Finding]:
    for name in ("unknown_client_reject_code", "unknown_hostname_reject_code",
                 "unknown_address_reject_code"):
        if ctx.entry(name) and ctx.cfg.get(name).strip().startswith("5"):
            yield finding("AFX-RST-012", ctx.where(name),
                          f"{name} = {ctx.cfg.get(name).strip()}: a 5xx code turns DNS "
                          "misconfigurations into permanent bounces",
                          "a broken upstream zone (NXDOMAIN) then bounces mail instead of "
                          "delaying it", f"remove {name} (default 450)")


@check(("AFX-RST-020", I, "a bare type:table in a restriction list"))
def bare_tables(ctx: LintContext) -> Iterator[Finding]:
    for rl in ctx.restriction_lists():
        for step in rl.steps:
            if step.is_table and rl.bare_table:
                yield finding("AFX-RST-020", step.item.where,
                              f"bare table {step.item.text} in {rl.param} means "
                              f"{rl.bare_table}", "valid, but easy to misread",
                              f"write {rl.bare_table} {step.item.text} explicitly")


@check(("AFX-RST-021", I, "reject_non_fqdn_* after reject_unknown_*_domain"))
def fqdn_order(ctx: LintContext) -> Iterator[Finding]:
    for rl in ctx.restriction_lists():
        names = [_current(s) for s in rl.steps]
        for kind in ("sender", "recipient"):
            cheap, costly = f"reject_non_fqdn_{kind}", f"reject_unknown_{kind}_domain"
            if cheap in names and costly in names and names.index(cheap) > names.index(costly):
                step = rl.steps[names.index(cheap)]
                yield finding("AFX-RST-021", step.item.where,
                              f"put {cheap} before {costly}",
                              f"{cheap} is a cheap, permanent (504) check; after {costly} a "
                              "bogus domain first costs a DNS query and may get a 450",
                              f"list {cheap} first")


@check(("AFX-RST-022", I, "a trailing permit"),
       ("AFX-RST-023", W, "restrictions after an unconditional permit never run"),
       ("AFX-RST-024", W, "restrictions after an unconditional reject never run"))
def unreachable(ctx: LintContext) -> Iterator[Finding]:
    for rl in ctx.restriction_lists():
        for index, step in enumerate(rl.steps):
            if step.name not in UNCONDITIONAL_PERMIT | UNCONDITIONAL_REJECT:
                continue
            rest = rl.steps[index + 1:]
            if not rest and step.name == "permit":
                yield finding("AFX-RST-022", step.item.where,
                              f"trailing permit in {rl.param} is redundant",
                              "a list that runs to its end permits anyway",
                              "remove it")
            elif rest:
                check_id = "AFX-RST-023" if step.name == "permit" else "AFX-RST-024"
                ignored = ", ".join(s.label for s in rest)
                yield finding(check_id, rest[0].item.where,
                              f"in {rl.param}, {ignored} after `{step.item.text}' "
                              f"(line {step.item.where.line}) never runs",
                              f"`{step.item.text}' decides every request that reaches it",
                              f"move these checks before `{step.item.text}', or remove them")
            break


@check(("AFX-RST-030", E, "an unknown restriction or a bad argument (451 4.3.5)"))
def static_errors(ctx: LintContext) -> Iterator[Finding]:
    for service in ctx.services:
        for problem in check_restrictions(service.cfg):
            if RELAY_RULE in problem or '"//' in problem:
                continue  # AFX-RST-002 and AFX-SYN-001 say it better
            param, text = _split_problem(ctx, service, problem)
            yield finding("AFX-RST-030", _place(ctx, service, param, text), text,
                          "smtpd answers 451 4.3.5 Server configuration error to every "
                          "request that reaches it", "fix the name or its argument")


def _split_problem(ctx: LintContext, service: Service, problem: str) -> tuple[str, str]:
    for param in [*L.ALL_LISTS, *ctx.classes(service)]:
        marker = f": {param}: "
        if marker in problem:
            return param, problem.split(marker, 1)[1]
    return L.CLIENT, problem


def _place(ctx: LintContext, service: Service, param: str, text: str) -> Where:
    for item in ctx.items(param, service):
        if f'"{item.text}"' in text or f" {item.text}:" in text:
            return item.where
    return ctx.where(param, service)
