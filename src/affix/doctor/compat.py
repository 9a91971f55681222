"""Compatibility and parameter-name checks (pitfalls.md G, config.md §1, §3, §5)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from affix.config.params import RENAMED
from affix.config.snapshot import referenced_names
from affix.config.unsupported import missing_feature
from affix.doctor.context import LintContext
from affix.doctor.findings import Finding, Severity, Where
from affix.doctor.registry import check, finding

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741


@check(("AFX-CFG-001", W, "compatibility_level not set"))
def compatibility_level(ctx: LintContext) -> Iterator[Finding]:
    if ctx.entry("compatibility_level") is None:
        yield finding("AFX-CFG-001", ctx.where("compatibility_level"),
                      "compatibility_level not set (defaults to 0)",
                      "level 0 keeps old defaults: no smtpd_relay_restrictions, "
                      "mynetworks_style = subnet, relay_domains = $mydestination",
                      "compatibility_level = 3.7")


@check(("AFX-CFG-002", I, "mynetworks computed from a subnet or class"))
def mynetworks_style(ctx: LintContext) -> Iterator[Finding]:
    style = ctx.cfg.get("mynetworks_style").strip().lower()
    if ctx.entry("mynetworks") is None and style in ("subnet", "class"):
        how = "set in main.cf" if ctx.entry("mynetworks_style") else \
            "the default below compatibility_level 2"
        yield finding("AFX-CFG-002", ctx.where("mynetworks_style"),
                      f"mynetworks_style = {style} ({how}) trusts every host on this "
                      "machine's networks", "those clients pass permit_mynetworks and may "
                      "relay", "list the networks in mynetworks, or mynetworks_style = host")


@check(("AFX-CFG-003", I, "an old parameter name"))
def renamed(ctx: LintContext) -> Iterator[Finding]:
    for name, current in RENAMED.items():
        if ctx.entry(name) is not None:
            yield finding("AFX-CFG-003", ctx.where(name), f"{name} is an old name; use "
                          f"{current}", "the old name still works through the new name's "
                          "default", f"rename it to {current}")


@check(("AFX-CFG-004", E, "a value of the wrong type"))
def bad_values(ctx: LintContext) -> Iterator[Finding]:
    for problem in ctx.cfg.validate():
        name = re.search(r"(\w+) = |parameter (\w+):", problem.message)
        param = (name.group(1) or name.group(2)) if name else ""
        yield finding("AFX-CFG-004", ctx.where(param), problem.message,
                      "every affix program stops with this fatal error", "fix the value")


def _used_by_master(ctx: LintContext) -> set[str]:
    """master.cf -o names and their $references count as uses, as the server counts them."""
    used: set[str] = set(RENAMED)
    for svc in ctx.master.services:
        used |= set(svc.overrides)
        for value in svc.overrides.values():
            used |= referenced_names(value)
    return used


@check(("AFX-CFG-008", W, "a $reference to a parameter nobody defines"))
def undefined_references(ctx: LintContext) -> Iterator[Finding]:
    for note in ctx.cfg.undefined_warnings(_used_by_master(ctx)):
        yield finding("AFX-CFG-008", Where(note.file, note.line), note.message,
                      "the value is used with that part empty",
                      "define the parameter, or fix the name")


@check(("AFX-CFG-005", W, "an unknown parameter"),
       ("AFX-CFG-006", I, "a Postfix parameter affix does not use"),
       ("AFX-CFG-007", W, "a Postfix feature affix does not have yet"))
def unknown_names(ctx: LintContext) -> Iterator[Finding]:
    """The names `affix check` warns about (Config.unused_warnings)."""
    for note in ctx.cfg.unused_warnings(_used_by_master(ctx)):
        name = note.message.split(": ", 1)[1].split("=", 1)[0]
        missing = missing_feature(name, ctx.cfg.entries[name].value)
        if missing:
            yield finding("AFX-CFG-007", ctx.where(name),
                          f"{name}: affix does not have this Postfix feature yet",
                          missing, "see README, \"What affix does not do (yet)\"")
            continue
        if note.message.startswith("Postfix parameter"):
            yield finding("AFX-CFG-006", ctx.where(name),
                          f"{name}: a Postfix parameter affix does not use",
                          "harmless: it configures a part of Postfix affix does not have",
                          "keep it for Postfix, or remove it")
            continue
        hint = note.message.partition(" (did you mean ")[2].rstrip(")")
        yield finding("AFX-CFG-005", ctx.where(name), f"unknown parameter {name}",
                      "affix ignores it (a typo, or a Postfix feature affix does not have)",
                      f"did you mean {hint}" if hint else
                      "check the spelling (affix conf -d lists every parameter)")
