"""SMTP-level pitfalls (pitfalls.md E): VRFY, the greeting banner, AUTH without TLS."""

from __future__ import annotations

from collections.abc import Iterator

from affix.doctor.context import LintContext
from affix.doctor.findings import Finding, Severity
from affix.doctor.registry import check, finding

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741


@check(("AFX-SMTP-001", I, "VRFY is enabled"))
def vrfy(ctx: LintContext) -> Iterator[Finding]:
    for service in ctx.services:
        if not service.cfg.bool("disable_vrfy_command"):
            yield finding("AFX-SMTP-001", ctx.where("disable_vrfy_command", service),
                          "VRFY enabled; consider disable_vrfy_command = yes",
                          "VRFY tells anyone which local users exist",
                          "disable_vrfy_command = yes")
            return


@check(("AFX-SMTP-002", W, "the banner does not start with the host name"),
       ("AFX-SMTP-003", I, "the banner shows the software version"))
def banner(ctx: LintContext) -> Iterator[Finding]:
    for service in ctx.services:
        raw = (service.cfg.raw("smtpd_banner") or "").strip()
        where = ctx.where("smtpd_banner", service)
        first = raw.split()[0] if raw.split() else ""
        if first not in ("$myhostname", "${myhostname}", "$(myhostname)",
                         service.cfg.get("myhostname")):
            yield finding("AFX-SMTP-002", where,
                          f'smtpd_banner "{raw}" does not start with $myhostname',
                          "RFC 5321 4.3.1: the greeting starts with the server's name",
                          "smtpd_banner = $myhostname ESMTP")
        if "mail_version" in raw:
            yield finding("AFX-SMTP-003", where, "smtpd_banner shows $mail_version",
                          "announcing the version helps attackers pick exploits",
                          "smtpd_banner = $myhostname ESMTP $mail_name")


def _tls_protected(cfg) -> bool:  # noqa: ANN001 - a Config
    level = cfg.get("smtpd_tls_security_level").strip().lower()
    # Implicit TLS (Postfix smtpd_tls_wrappermode) would protect AUTH; affix does not run it,
    # which AFX-MCF-007 reports on its own.
    wrapped = (cfg.raw("smtpd_tls_wrappermode") or "").strip().lower() in ("yes", "true", "1")
    return cfg.bool("smtpd_tls_auth_only") or level == "encrypt" or wrapped or (
        not level and cfg.bool("smtpd_enforce_tls"))


# What decides whether AUTH is offered in clear text, most specific first.
_TLS_PARAMS = ("smtpd_sasl_auth_enable", "smtpd_tls_security_level", "smtpd_tls_auth_only",
               "smtpd_enforce_tls")


@check(("AFX-TLS-001", W, "SASL AUTH offered without TLS"))
def sasl_without_tls(ctx: LintContext) -> Iterator[Finding]:
    for service in ctx.services:
        cfg = service.cfg
        if cfg.bool("smtpd_sasl_auth_enable") and not _tls_protected(cfg):
            overridden = service.overrides(*_TLS_PARAMS)
            where = ctx.where(overridden[0] if overridden else "smtpd_sasl_auth_enable",
                              service)
            yield finding("AFX-TLS-001", where,
                          f"{service.tag(*_TLS_PARAMS)}SASL enabled without "
                          "smtpd_tls_auth_only = yes or smtpd_tls_security_level = encrypt "
                          "on this service",
                          "passwords travel in clear text",
                          "smtpd_tls_auth_only = yes (or -o smtpd_tls_security_level="
                          "encrypt on the submission service)")
