"""main.cf syntax pitfalls (pitfalls.md A): `//` and `#` are not comments after a value;
a missing comma is harmless; a line without `=` stops every program."""

from __future__ import annotations

import re
from collections.abc import Iterator

from affix.config.maincf import Entry
from affix.config.params import PARAMS, Kind
from affix.doctor.context import LintContext
from affix.doctor.findings import Finding, Severity, Where
from affix.doctor.registry import check, finding
from affix.policy import lists as L

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741
FATAL = "every affix and Postfix program stops with this fatal error"
COMMENT_FIX = 'put comments on their own line starting with "#"'


def _is_restrictions(ctx: LintContext, name: str) -> bool:
    return name in L.ALL_LISTS or name in ctx.cfg.list("smtpd_restriction_classes")


def _is_list(ctx: LintContext, name: str) -> bool:
    param = PARAMS.get(name)
    if param is not None:
        return param.kind in (Kind.LIST, Kind.MAPS, Kind.RESTRICTIONS)
    return _is_restrictions(ctx, name)


@check(("AFX-SYN-001", E, '"//" is not a comment'),
       ("AFX-SYN-004", E, "a main.cf line is not `name = value`"))
def slash_comments(ctx: LintContext) -> Iterator[Finding]:
    """`//text` at column 1 is fatal; `, //text` after a value becomes part of the value."""
    for p in ctx.parse_problems:
        if p.text.startswith("//"):
            yield finding("AFX-SYN-001", p.where, f'"//" is not a comment: {p.message}',
                          FATAL, COMMENT_FIX)
        else:
            yield finding("AFX-SYN-004", p.where, p.message, FATAL,
                          "write `name = value`, or start the line with # to comment it out")
    for entry in ctx.cfg.entries.values():
        yield from _slash_in_value(ctx, entry)


def _slash_in_value(ctx: LintContext, entry: Entry) -> Iterator[Finding]:
    for number, text in ctx.entry_lines(entry):
        m = re.search(r"(?:^|[\s,])(//\S*)", text)
        if not m:
            continue
        token = m.group(1)
        if _is_restrictions(ctx, entry.name):
            effect = (f'unknown restriction "{token}": affix refuses to start; Postfix answers '
                      "451 4.3.5 Server configuration error to every client that reaches it")
        else:
            effect = f'the value of {entry.name} now ends in "{text[m.start(1):].strip()}"'
        yield finding("AFX-SYN-001", Where(ctx.maincf, number),
                      f'"//" is not a comment; the text became part of parameter {entry.name}',
                      effect, COMMENT_FIX)


@check(("AFX-SYN-002", W, '" # " inside a value is not a comment'))
def hash_in_value(ctx: LintContext) -> Iterator[Finding]:
    for entry in ctx.cfg.entries.values():
        for number, text in ctx.entry_lines(entry):
            m = re.search(r"\s(#.*)$", text)
            if m:
                yield finding("AFX-SYN-002", Where(ctx.maincf, number),
                              f'"#" after a value is not a comment: {entry.name} includes '
                              f'"{m.group(1).strip()}"',
                              "only lines whose first non-blank character is # are comments",
                              COMMENT_FIX)


@check(("AFX-SYN-003", I, "list elements separated by a line break only"))
def newline_separated(ctx: LintContext) -> Iterator[Finding]:
    """A list written with commas where one line lacks its comma (pitfalls P02)."""
    for entry in ctx.cfg.entries.values():
        if not _is_list(ctx, entry.name) or "," not in entry.value:
            continue
        lines = [(n, t.strip()) for n, t in ctx.entry_lines(entry)]
        for (number, text), _next in zip(lines, lines[1:], strict=False):
            if text and not text.endswith(",") and "{" not in text and "//" not in text:
                yield finding("AFX-SYN-003", Where(ctx.maincf, number),
                              f"{entry.name}: no comma after \"{text.split()[-1]}\"; the line "
                              "break separates the elements",
                              "this is valid: white space separates list elements too",
                              "add the comma for consistency")


@check(("AFX-SYN-005", W, "a parameter is set twice"))
def duplicates(ctx: LintContext) -> Iterator[Finding]:
    for w in ctx.cfg.warnings:
        if w.message.startswith("overriding earlier entry"):
            yield finding("AFX-SYN-005", Where(ctx.maincf, w.line), w.message,
                          "the last setting wins; the earlier one is ignored",
                          "keep one setting")
