"""Table pitfalls (pitfalls.md C-D): tables not compiled or older than their source, rules
that do not compile, keys that can never match, OK entries wider than meant, HELO tables
keyed by address. Table problems come from affix.tables.check.check_table."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterator

from affix.ascii import is_digits
from affix.doctor.context import LintContext, TableRef
from affix.doctor.findings import Finding, Severity, Where
from affix.doctor.registry import check, finding
from affix.doctor.tablesource import fixed_records, rule_lines, table_file
from affix.tables.access import Permit, parse_action
from affix.tables.check import check_table, is_stale
from affix.tables.indexed import INDEXED_TYPES, index_path

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741
_PARTIAL_V4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){0,2}$")
_PROBLEM = re.compile(r"^(/[^:]+):(\d+): (.*)$", re.S)
_OPEN_FAILED = ("open database", "No such file", "unsupported dictionary type", "open ")


def _is_address(key: str) -> bool:
    try:
        ipaddress.ip_address(key.strip("[]"))
    except ValueError:
        return False
    return True


def _alias_tables(ctx: LintContext) -> set[str]:
    """Tables in aliases(5) format (`name: value`), built by newaliases, not by postmap."""
    return set(ctx.cfg.list("alias_maps")) | set(ctx.cfg.list("alias_database"))


def _build_command(ctx: LintContext, ref: TableRef, type_: str, source: str) -> str:
    if ref.spec in _alias_tables(ctx):
        return '"affix newaliases"'
    return f'"affix map {type_}:{source}"'


def _client_tables(ctx: LintContext) -> Iterator[TableRef]:
    return (r for r in ctx.table_refs() if r.used_by == "check_client_access")


@check(("AFX-TBL-002", E, "an indexed table was not compiled"),
       ("AFX-TBL-003", W, "an indexed table is older than its source"))
def compiled(ctx: LintContext) -> Iterator[Finding]:
    for ref in ctx.table_refs():
        found = table_file(ref.spec)
        if found is None or found[0] not in INDEXED_TYPES:
            continue
        type_, source = found
        index = index_path(source)
        if not os.path.exists(index):
            if not os.path.exists(source):
                continue  # AFX-TBL-009 (from check_table) reports the missing file
            postfix_db = " (the .db file next to it is Postfix's Berkeley DB, which affix " \
                "cannot read)" if os.path.exists(source + ".db") else ""
            yield finding("AFX-TBL-002", ref.where,
                          f"{ref.spec}: source {source} exists but {index} is missing"
                          + postfix_db, _unbuilt_effect(ctx, ref),
                          f"run {_build_command(ctx, ref, type_, source)}")
        elif os.stat(source).st_mtime > os.stat(index).st_mtime:
            yield finding("AFX-TBL-003", ref.where,
                          f"{ref.spec}: {index} is older than {source}",
                          "the server still uses the old entries",
                          f"run {_build_command(ctx, ref, type_, source)} (no reload is "
                          "needed)")


def _unbuilt_effect(ctx: LintContext, ref: TableRef) -> str:
    if ref.spec in _alias_tables(ctx):
        return "lookups fail: mail to local recipients is deferred"
    return "every request that reaches the table gets 451 4.3.5 Server configuration error"


@check(("AFX-TBL-004", I, "a regexp/pcre table was compiled needlessly"))
def needless_index(ctx: LintContext) -> Iterator[Finding]:
    for ref in ctx.table_refs():
        found = table_file(ref.spec)
        if found is None or found[0] not in ("regexp", "pcre"):
            continue
        for extra in (found[1] + ".db", index_path(found[1])):
            if os.path.exists(extra):
                yield finding("AFX-TBL-004", Where(extra),
                              f"{extra} exists for a {found[0]} table ({ref.spec})",
                              f"{found[0]} tables are read from the text file; postmap or "
                              "affix map is not needed", f"remove {extra}")


@check(("AFX-TBL-007", W, "a regexp/pcre/cidr rule is skipped (does not compile)"),
       ("AFX-TBL-008", W, "a table source line is malformed"))
def table_problems(ctx: LintContext) -> Iterator[Finding]:
    aliases = _alias_tables(ctx)
    for ref in ctx.table_refs():
        if ref.spec in aliases:
            yield from _alias_problems(ref)
            continue
        found = table_file(ref.spec)
        pattern = found is not None and found[0] in ("regexp", "pcre", "cidr")
        partial = _partial_lines(ref) if pattern else set()
        for problem in check_table(ref.spec, ctx.cfg):
            if is_stale(problem) or any(p in problem for p in _OPEN_FAILED):
                continue  # AFX-TBL-002/003/009
            m = _PROBLEM.match(problem)
            where = Where(m.group(1), int(m.group(2))) if m else ref.where
            if where.line in partial:
                continue  # AFX-TBL-001 says why
            text = m.group(3) if m else problem
            if pattern:
                yield finding("AFX-TBL-007", where, f"{ref.spec}: {text}",
                              "the rule is skipped: it never matches",
                              "fix the pattern (POSIX ERE for regexp:, PCRE for pcre:)")
            else:
                yield finding("AFX-TBL-008", where, f"{ref.spec}: {text}",
                              "the line is skipped", "write `key whitespace value`")


def _alias_problems(ref: TableRef) -> Iterator[Finding]:
    """An alias file is read as newaliases reads it (affix.delivery.aliases)."""
    from affix.delivery.aliases import parse_alias_source

    found = table_file(ref.spec)
    if found is None or not os.path.isfile(found[1]):
        return
    try:
        with open(found[1], encoding="utf-8", errors="surrogateescape") as f:
            problems = parse_alias_source(f.read(), found[1])[1]
    except OSError:
        return  # AFX-TBL-009
    for problem in problems:
        m = _PROBLEM.match(problem)
        where = Where(m.group(1), int(m.group(2))) if m else ref.where
        yield finding("AFX-TBL-008", where, f"{ref.spec}: {m.group(3) if m else problem}",
                      "the line is skipped",
                      "write `name: value, value` (aliases(5))")


@check(("AFX-TBL-009", E, "a referenced table cannot be opened"))
def unopenable(ctx: LintContext) -> Iterator[Finding]:
    for ref in ctx.table_refs():
        found = table_file(ref.spec)
        if found is not None and found[0] in INDEXED_TYPES and os.path.exists(found[1]):
            continue  # AFX-TBL-002
        for problem in check_table(ref.spec, ctx.cfg):
            if any(p in problem for p in _OPEN_FAILED) and "older than" not in problem:
                effect = ("affix check fails and affix start refuses to run; a server "
                          "already running (the file removed under it) "
                          + (f"answers 451 4.3.5 Server configuration error when "
                             f"{ref.used_by} reaches it" if ref.used_by.startswith("check_")
                             else f"defers the mail {ref.used_by} is needed for"))
                yield finding("AFX-TBL-009", ref.where, problem, effect,
                              "create the file (and run affix map for hash:), or fix the name")
                break


def _partial_lines(ref: TableRef) -> set[int]:
    return {line for line, _key in _partial_keys(ref)}


def _partial_keys(ref: TableRef) -> list[tuple[int, str]]:
    """cidr keys like `192.168.10`, regexp rules like `/^192\\.168\\.10$/`: never matched,
    since cidr and regexp tables see only the full client address (pitfalls P14)."""
    found = table_file(ref.spec)
    out = []
    for line, text in rule_lines(ref.spec):
        key = text.split()[0] if text.split() else ""
        if found and found[0] == "cidr" and _PARTIAL_V4.match(key.lstrip("!")):
            out.append((line, key))
        elif found and found[0] != "cidr":
            m = re.match(r"^!?/\^([\d\\.]+)\$/", key)
            if m and _PARTIAL_V4.match(m.group(1).replace("\\.", ".")):
                out.append((line, key))
    return out


@check(("AFX-TBL-001", W, "a partial IPv4 key in a cidr/regexp table never matches"))
def partial_networks(ctx: LintContext) -> Iterator[Finding]:
    for ref in _client_tables(ctx):
        found = table_file(ref.spec)
        for line, key in _partial_keys(ref):
            net = key.lstrip("!").replace("\\.", ".").strip("/^$")
            cidr = _as_cidr(net)
            yield finding("AFX-TBL-001", Where(found[1], line),
                          f'partial IPv4 key "{key}" in {ref.spec} is never matched',
                          "only hash-type tables try a.b.c and a.b prefixes; cidr and regexp "
                          "tables see the full client address",
                          f"use {cidr} in a cidr: table")


def _as_cidr(partial: str) -> str:
    octets = partial.split(".")
    return ".".join(octets + ["0"] * (4 - len(octets))) + f"/{8 * len(octets)}"


@check(("AFX-TBL-005", W, "a network/mask key in a hash-type table never matches"),
       ("AFX-TBL-006", W, "an OK entry that whitelists a whole network or domain"))
def client_table_keys(ctx: LintContext) -> Iterator[Finding]:
    for ref in _client_tables(ctx):
        path = (table_file(ref.spec) or ("", ref.spec))[1]
        for key, value, line in fixed_records(ref.spec):
            where = Where(path, line)
            if "/" in key and _is_address(key.split("/")[0]):
                yield finding("AFX-TBL-005", where,
                              f'key "{key}" in {ref.spec} is never matched',
                              "hash-type tables know no masks: they try the address and its "
                              "a.b.c, a.b and a prefixes", f"use a cidr: table for {key}, or "
                              "the a.b.c form here")
            elif isinstance(parse_action(value), Permit) and _too_wide(key):
                yield finding("AFX-TBL-006", where,
                              f'"{key} {value}" in {ref.spec} whitelists {_scope(key)}',
                              "OK ends the client checks for every matching client, DNSBLs "
                              "and reverse-DNS checks included",
                              "list the exact addresses or host names, or a narrow cidr: "
                              "network")
        yield from _wide_cidr(ref)


def _too_wide(key: str) -> bool:
    if _PARTIAL_V4.match(key):
        return key.count(".") <= 1  # a.b (/16) or a (/8)
    return "." not in key and ":" not in key and not key.endswith("@")  # a TLD such as com


def _scope(key: str) -> str:
    if _PARTIAL_V4.match(key):
        return f"{256 ** (4 - key.count('.') - 1):,} addresses ({_as_cidr(key)})"
    return f"every host name under .{key}"


def _wide_cidr(ref: TableRef) -> Iterator[Finding]:
    found = table_file(ref.spec)
    if found is None or found[0] != "cidr":
        return
    for line, text in rule_lines(ref.spec):
        fields = text.split(None, 1)
        if len(fields) < 2 or "/" not in fields[0] or fields[0].lower() == "if":
            continue
        length = fields[0].rsplit("/", 1)[1]
        v6 = ":" in fields[0]
        if is_digits(length) and int(length) < (32 if v6 else 16) and \
                isinstance(parse_action(fields[1]), Permit):
            yield finding("AFX-TBL-006", Where(found[1], line),
                          f'"{text.strip()}" in {ref.spec} whitelists a /{length} network',
                          "OK ends the client checks for every address in it",
                          "narrow the network")


@check(("AFX-RST-013", W, "a check_helo_access table keyed by IP addresses"))
def helo_ip_keys(ctx: LintContext) -> Iterator[Finding]:
    for ref in ctx.table_refs():
        if ref.used_by != "check_helo_access":
            continue
        records = fixed_records(ref.spec)
        numeric = [(k, line) for k, _v, line in records if _is_address(k)]
        if not numeric:
            continue
        only = "only IP-address keys" if len(numeric) == len(records) else "IP-address keys"
        path = (table_file(ref.spec) or ("", ref.spec))[1]
        lines = ", ".join(f"{path}:{line}" for _k, line in numeric[:5])
        yield finding("AFX-RST-013", ref.where,
                      f"check_helo_access table {ref.spec} holds {only} ({lines})",
                      "HELO access is keyed by the HELO name, never the client address: "
                      "such an entry matches only a client that literally says HELO with "
                      "that address", f"use check_client_access {ref.spec} in "
                      "smtpd_helo_restrictions for address-based exceptions")
