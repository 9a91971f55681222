"""Run every registered lint check over one configuration directory."""

from __future__ import annotations

from affix.config.errors import ConfigError
from affix.doctor import (  # noqa: F401 - each module registers its checks
    compat,
    dnsbl,
    headers,
    restrictions,
    services,
    sizes,
    smtp,
    syntax,
    tables,
    virtual,
)
from affix.doctor.context import LintContext
from affix.doctor.findings import Finding, Severity, Where
from affix.doctor.registry import CHECKS
from affix.tables.base import TableError


def lint_findings(cfg_dir: str | None, dns: bool = False) -> list[Finding]:
    """Every finding for DIR/main.cf (and what it references), in file and line order.

    `dns=True` also runs the checks that query DNS (affix lint --dns). Raises OSError when
    main.cf cannot be read.
    """
    ctx = LintContext(cfg_dir, dns)
    found: list[Finding] = []
    for spec in CHECKS:
        if spec.dns and not dns:
            continue
        try:
            found.extend(spec.fn(ctx))
        except (ConfigError, TableError) as e:
            found.append(_broken(ctx, e))
    unique = list(dict.fromkeys(found))
    return sorted(unique, key=lambda f: (f.where.file != ctx.maincf, f.where.file,
                                         f.where.line or 0, f.check))


def _broken(ctx: LintContext, err: Exception) -> Finding:
    """A value so broken that a check could not even read it (e.g. a $name loop)."""
    where = Where(getattr(err, "file", None) or ctx.maincf, getattr(err, "line", None))
    message = getattr(err, "message", None) or str(err)
    return Finding("AFX-CFG-004", Severity.ERROR, where, message,
                   "every affix program stops with this fatal error", "fix the value")
