"""Reading a table's source lines back, with line numbers: for lint's content checks and for
`affix explain` to name the line that answered a lookup."""

from __future__ import annotations

import ipaddress
import os

from affix.config.maincf import logical_lines
from affix.doctor.findings import Where
from affix.tables.base import TableError, read_text
from affix.tables.cidr import CidrError, parse_network
from affix.tables.indexed import INDEXED_TYPES
from affix.tables.opener import open_table, split_spec
from affix.tables.source import Record, source_records

FIXED_SOURCE_TYPES = (*INDEXED_TYPES, "texthash")
RULE_TYPES = ("cidr", "regexp", "pcre")


def table_file(spec: str) -> tuple[str, str] | None:
    """(type, source path) of a file-based table; None for inline/static/sqlite/..."""
    try:
        type_, name = split_spec(spec)
    except TableError:
        return None
    if type_ == "proxy":
        return table_file(name)
    if type_ in (*FIXED_SOURCE_TYPES, *RULE_TYPES) and not name.lstrip().startswith("{"):
        return type_, name
    return None


def fixed_records(spec: str) -> list[Record]:
    """`key value line` records of a hash/btree/lmdb/texthash source file ([] if none)."""
    found = table_file(spec)
    if found is None or found[0] not in FIXED_SOURCE_TYPES or not os.path.isfile(found[1]):
        return []
    try:
        return source_records(read_text(found[1], spec), found[1], [])
    except TableError:
        return []


def rule_lines(spec: str) -> list[tuple[int, str]]:
    """(line, logical line) of a cidr/regexp/pcre file ([] if none)."""
    found = table_file(spec)
    if found is None or found[0] not in RULE_TYPES or not os.path.isfile(found[1]):
        return []
    try:
        text = read_text(found[1], spec)
    except TableError:
        return []
    return [(ll.line, ll.text) for ll in logical_lines(text)]


def key_location(spec: str, key: str) -> Where | None:
    """The source line that answers `key` in table `spec` (first match), if it has a file."""
    found = table_file(spec)
    if found is None:
        return None
    type_, path = found
    if type_ in FIXED_SOURCE_TYPES:
        for k, _value, line in fixed_records(spec):
            if k.lower() == key.lower():
                return Where(path, line)
        return None
    if type_ == "cidr":
        return _cidr_line(spec, path, key)
    return _pattern_line(spec, path, key)


def _cidr_line(spec: str, path: str, key: str) -> Where | None:
    try:
        ip = ipaddress.ip_address(key)
    except ValueError:
        return None
    for line, text in rule_lines(spec):
        fields = text.split()
        if len(fields) < 2 or fields[0].lower() in ("if", "endif"):
            continue
        try:
            net = parse_network(fields[0].lstrip("!"))
        except CidrError:
            continue
        if (ip in net) != fields[0].startswith("!"):
            return Where(path, line)
    return None


def _pattern_line(spec: str, path: str, key: str) -> Where | None:
    try:
        table = open_table(spec)
    except TableError:
        return None
    rules = getattr(table, "rules", [])
    i = 0
    while i < len(rules):  # as PatternTable.lookup walks them, if-blocks included
        rule = rules[i]
        try:
            hit = (rule.regex.search(key) is None) == rule.negate
        except TableError:  # out of time (tables/bounded.py): no line to show
            return None
        if rule.template is None:
            i = i + 1 if hit else rule.skip_to
        elif hit:
            return Where(path, rule.line)
        else:
            i += 1
    return None
