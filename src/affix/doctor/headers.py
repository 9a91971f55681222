"""header_checks pitfalls (pitfalls.md P25): deleting every Received: header; silent IGNORE."""

from __future__ import annotations

from collections.abc import Iterator

from affix.doctor.context import LintContext
from affix.doctor.findings import Finding, Severity, Where
from affix.doctor.registry import check, finding
from affix.doctor.tablesource import table_file
from affix.tables.base import TableError
from affix.tables.opener import open_table

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741
CHECK_PARAMS = ("header_checks", "mime_header_checks", "nested_header_checks", "body_checks",
                "smtp_header_checks")
# Received headers as different hops write them: a rule that deletes all of these deletes
# every Received header.
SAMPLES = (
    "Received: from mail.example.org (mail.example.org [192.0.2.7])\n\tby mx.example.net "
    "(affix) with ESMTP id 4F3A21C0042\n\tfor <user@example.net>; Mon, 1 Jan 2024 00:00:00 "
    "+0000 (UTC)",
    "Received: by mail.example.org (Postfix, from userid 1000)\n\tid 0A1B2C3D4E; Mon, 1 Jan "
    "2024 00:00:00 +0000 (UTC)",
    "Received: from [10.1.2.3] (unknown [198.51.100.9])\n\t(Authenticated sender: u)\n\tby "
    "smtp.example.com with ESMTPSA id x; Mon, 1 Jan 2024 00:00:00 +0000",
)
DELETING = ("IGNORE", "STRIP", "DISCARD")


def _pattern_rules(ctx: LintContext, param: str) -> Iterator[tuple[str, object, str]]:
    """(spec, rule, source path) for each rule of each regexp/pcre table of `param`."""
    for item in ctx.items(param):
        found = table_file(item.text)
        if found is None or found[0] not in ("regexp", "pcre"):
            continue
        try:
            table = open_table(item.text, ctx.cfg)
        except TableError:
            continue  # AFX-TBL-009
        for rule in getattr(table, "rules", []):
            yield item.text, rule, found[1]


def _action(rule) -> str:  # noqa: ANN001 - affix.tables.regexp.Rule
    literal = "".join(part for part in rule.template or () if isinstance(part, str))
    return literal.strip()


@check(("AFX-HDR-001", E, "header_checks deletes every Received: header"),
       ("AFX-HDR-002", I, "IGNORE is silent"))
def received_removal(ctx: LintContext) -> Iterator[Finding]:
    seen: set[tuple[str, int]] = set()
    for param in CHECK_PARAMS:
        if not ctx.cfg.get(param).strip():
            continue
        for spec, rule, path in _pattern_rules(ctx, param):
            key = (spec, rule.line)
            if key in seen or rule.template is None:
                continue
            seen.add(key)
            action = _action(rule)
            word = action.split()[0].upper() if action else ""
            where = Where(path, rule.line)
            if param != "body_checks" and word in DELETING and _matches_all(rule):
                yield finding("AFX-HDR-001", where,
                              f"{param} deletes all Received: headers ({word})",
                              "it breaks trace information and mail-loop detection across "
                              "hops, and (through mime/nested_header_checks) the DKIM "
                              "signatures of attached messages",
                              "restrict it to the submission path: a dedicated cleanup "
                              "service with its own header_checks, matching only this "
                              "server's authenticated-submission Received line")
            if word == "IGNORE":
                yield finding("AFX-HDR-002", where, "IGNORE is silent",
                              "removed headers leave no trace in the mail log",
                              "use STRIP to log removals")


def _matches_all(rule) -> bool:  # noqa: ANN001 - a regexp.Rule
    """The rule matches every sample Received header (out of time counts as no)."""
    try:
        return all((rule.regex.search(s) is None) == rule.negate for s in SAMPLES)
    except TableError:
        return False
