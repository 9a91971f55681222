"""master.cf checks: lines affix refuses or skips, -o overrides, and what a submission service
needs. The per-service checks of the other families (AFX-TLS-001, AFX-RST-002/005/030, ...)
run on each service's effective configuration through LintContext.services.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from affix.check import check_service_overrides
from affix.config.errors import ConfigError
from affix.config.maincf import Warning_
from affix.doctor.context import LintContext, Service, Step
from affix.doctor.findings import Finding, Severity, Where
from affix.doctor.registry import check, finding
from affix.policy import lists as L

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741
WRAPPERMODE = "smtpd_tls_wrappermode"
# Ports and names of mail submission (RFC 6409) and submission over TLS (RFC 8314).
SUBMISSION_NAMES = frozenset({"submission", "submissions", "smtps"})
SUBMISSION_PORTS = frozenset({587, 465})
# What ends the relay decision for an authenticated client before it is permitted.
_RELAY_STOPS = frozenset({"reject_unauth_destination", "defer_unauth_destination", "reject",
                          "defer", "defer_if_permit", "check_relay_domains"})


@check(("AFX-MCF-001", E, "a master.cf line affix refuses (the server does not start)"),
       ("AFX-MCF-002", I, "a master.cf line affix does not run"),
       ("AFX-MCF-003", W, "a master.cf line affix reads differently"))
def master_lines(ctx: LintContext) -> Iterator[Finding]:
    for problem in ctx.master.problems:
        yield finding("AFX-MCF-001", Where(problem.file or ctx.master.path, problem.line),
                      problem.message, "affix check fails and affix start refuses to run",
                      "fix the line (8 fields: service type private unpriv chroot wakeup "
                      "maxproc command)")
    for note in ctx.master.notes:
        where = Where(note.file, note.line)
        if "is not run by affix" in note.message:
            yield finding("AFX-MCF-002", where, note.message,
                          "affix runs only inet smtpd services; mail to such a transport "
                          "is not delivered by affix", "remove the line if nothing uses it")
        else:
            yield finding("AFX-MCF-003", where, note.message, "", "")


@check(("AFX-MCF-004", W, "an unknown parameter in a -o override"),
       ("AFX-MCF-005", E, "a -o value of the wrong type (the server does not start)"),
       ("AFX-MCF-008", I, "a -o override of a Postfix parameter affix does not use"),
       ("AFX-MCF-009", W, "a -o override asks for a Postfix feature affix does not have"),
       ("AFX-MCF-010", W, "a -o value refers to a parameter nobody defines"))
def overrides(ctx: LintContext) -> Iterator[Finding]:
    for service in ctx.services:
        if service.master is None:
            continue
        for item in check_service_overrides(ctx.cfg, [service.master]):
            where = _override_place(service, item)
            if isinstance(item, Warning_) and item.message.startswith("Postfix parameter"):
                if WRAPPERMODE not in item.message:  # AFX-MCF-007 says more
                    yield finding("AFX-MCF-008", where,
                                  f"service {service.name}: {item.message}",
                                  "harmless: it configures a part of Postfix affix does not "
                                  "have", "keep it for Postfix, or remove it")
            elif isinstance(item, Warning_) and item.message.startswith("Postfix feature"):
                if WRAPPERMODE in item.message:  # AFX-MCF-007 says more
                    continue
                yield finding("AFX-MCF-009", where, f"service {service.name}: {item.message}",
                              "the service runs without it",
                              "see README, \"What affix does not do (yet)\"")
            elif isinstance(item, Warning_) and " refers to $" in item.message:
                yield finding("AFX-MCF-010", where, f"service {service.name}: {item.message}",
                              "the service runs with the value empty",
                              "define the parameter in main.cf, or fix the name")
            elif isinstance(item, Warning_):
                yield finding("AFX-MCF-004", where, f"service {service.name}: {item.message}",
                              "the override is ignored", "check the parameter name")
            elif isinstance(item, ConfigError):
                yield finding("AFX-MCF-005", where, f"service {service.name}: {item.message}",
                              "affix check fails and affix start refuses to run",
                              "fix the value")


def _override_place(service: Service, item: Warning_ | ConfigError) -> Where:
    """The -o line a problem is about (its text names the parameter)."""
    text = item.message
    for name, where in service.override_where.items():
        if re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text):
            return where
    assert service.master is not None
    return Where(service.master.path, service.master.line)


@check(("AFX-MCF-007", E, "smtpd_tls_wrappermode (implicit TLS) is not implemented"))
def wrappermode(ctx: LintContext) -> Iterator[Finding]:
    for service in ctx.services:
        value = (service.cfg.raw(WRAPPERMODE) or "").strip().lower()
        if value not in ("yes", "true", "1"):
            continue
        yield finding("AFX-MCF-007", ctx.where(WRAPPERMODE, service),
                      f"{service.tag(WRAPPERMODE)}{WRAPPERMODE} = yes: affix does not "
                      "implement implicit TLS (RFC 8314, port 465)",
                      "affix ignores the setting and speaks plain SMTP on this port, so "
                      "clients that start with TLS cannot connect",
                      "offer the submission service (port 587, STARTTLS) instead and remove "
                      "this service")


def is_submission(service: Service) -> bool:
    svc = service.master
    return svc is not None and (svc.service_name in SUBMISSION_NAMES
                                or svc.port in SUBMISSION_PORTS)


@check(("AFX-MCF-006", E, "a submission service that does not let authenticated users relay"))
def submission_relay(ctx: LintContext) -> Iterator[Finding]:
    from affix.doctor.restrictions import expanded

    for service in ctx.services:
        if not is_submission(service) or not service.cfg.bool("smtpd_sasl_auth_enable"):
            continue
        for rl in ctx.restriction_lists():
            if rl.service is not service or rl.param not in (L.RELAY, L.RECIPIENT):
                continue
            stop = _stop_before_sasl(list(expanded(ctx, service, rl.steps, frozenset())))
            if stop is not None:
                yield finding("AFX-MCF-006", stop.item.where,
                              f"service {service.name}: {stop.label} in {rl.param} comes "
                              "before any permit_sasl_authenticated",
                              "SASL is enabled, but mail from authenticated users to other "
                              "domains is refused (554 5.7.1 Relay access denied)",
                              f"-o {rl.param}=permit_sasl_authenticated,reject on the "
                              f"{service.name} line")


def _stop_before_sasl(steps: list[Step]) -> Step | None:
    for step in steps:
        if step.name in ("permit_sasl_authenticated", "permit"):
            return None
        if step.name in _RELAY_STOPS:
            return step
    return None
