"""The aliases(5) format: `name: value, value` sources, and the values of an alias.

Building (newaliases) stores each value as written after the colon (continuation lines
joined), as postalias does; it is split into single deliveries only when local(8) uses it,
by split_alias_values() -- the one place that knows the quoting rules. The index is the
tables area's NAME.lmdb, so `hash:/etc/aliases` in alias_maps opens what newaliases built.
"""

from __future__ import annotations

import os

from affix.config.maincf import logical_lines

_INDEXED = ("hash", "btree", "lmdb")


class AliasError(Exception):
    """An alias table cannot be built at all (a bad table name)."""


def parse_alias_source(text: str, where: str = "aliases") -> tuple[dict[str, str], list[str]]:
    """(name (lowercased, quotes removed) -> value, problems). `#` lines are comments, lines
    starting with white space continue the previous entry, and the first entry for a name
    wins. A line that is not `name: value` is left out and named in the problems
    (`file:line: problem`): as with postalias, one bad line does not cost the others."""
    out: dict[str, str] = {}
    problems: list[str] = []
    for ll in logical_lines(text):
        name, colon, value = ll.text.partition(":")
        if not colon or not name.strip() or not value.strip():
            what = "colon" if not colon or not name.strip() else "value"
            problems.append(f"{where}:{ll.line}: missing {what} in alias entry: line skipped")
            continue
        out.setdefault(name.strip().strip('"').lower(), value.strip())
    return out, problems


def split_alias_values(text: str) -> list[str]:
    """aliases(5): values are separated by commas outside double quotes; the quotes around a
    value (`"|command with, commas"`) are removed."""
    values, buf, quoted = [], [], False
    for c in text:
        if c == '"':
            quoted = not quoted
            continue
        if c == "," and not quoted:
            values.append("".join(buf).strip())
            buf = []
        else:
            buf.append(c)
    values.append("".join(buf).strip())
    return [v for v in values if v]


def build_alias_table(spec: str) -> list[str]:
    """Build one alias_database entry (`hash:/etc/aliases`) from its source file; the
    source's problems (lines left out) are returned.

    Raises AliasError for a bad table name, OSError when the source cannot be read,
    TableError when the index cannot be written. Types without an index (texthash, ...) read
    the source itself: there is nothing to build, but the source is still checked.
    """
    kind, _, path = spec.partition(":")
    if not path:
        raise AliasError(f"bad table name {spec!r}: use type:name")
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        aliases, problems = parse_alias_source(f.read(), path)
    if kind.lower() not in _INDEXED:
        return problems
    from affix.tables.compile import write_index
    from affix.tables.indexed import index_path

    # postalias: a new index gets the source's group/other read bits
    mode = 0o600 | (os.stat(path).st_mode & 0o044)
    write_index(index_path(path), aliases, new_mode=mode)
    return problems
