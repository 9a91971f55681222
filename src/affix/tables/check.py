"""check_table(spec): every problem an admin should fix in one table, for `affix check`.

Problems are strings `file:line: problem` (or `file: problem`, or the table spec when no
file is involved): malformed source lines, rules skipped in regexp/pcre/cidr files, an
index that is missing or older than its source, a sqlite query that fails.
"""

from __future__ import annotations

import os
import re

from affix.config.snapshot import Config
from affix.tables.base import Table, TableError, read_text
from affix.tables.indexed import INDEXED_TYPES, index_path
from affix.tables.opener import open_table, split_spec
from affix.tables.source import Problem, source_records

# An index older than its source is a warning, not an error: the server starts and answers
# from the old index, as Postfix does (tables.md §1), rather than stay down until `affix map`.
STALE = "database is older than source file"


def is_stale(problem: str) -> bool:
    return STALE in problem


_LINE_PROBLEM = re.compile(r"^[^:\s]+:\d+: ")


def is_skipped_line(problem: str) -> bool:
    """A problem with one line of a source (`file:N: ...`): the line or rule is skipped and
    the rest of the table works, as in Postfix; a warning, not a reason to stay down."""
    return _LINE_PROBLEM.match(problem) is not None


_POSITION = re.compile(r"^(?:(?:regexp|pcre|cidr) map )?(.+?), line (\d+): (.*)$", re.S)


def as_file_line(warning: str) -> str:
    """`regexp map FILE, line N: text` / `FILE, line N: text` -> `FILE:N: text`."""
    m = _POSITION.match(warning)
    return f"{m.group(1)}:{m.group(2)}: {m.group(3)}" if m else warning


def check_table(spec: str, cfg: Config | None = None) -> list[str]:
    try:
        type_, name = split_spec(spec)
    except TableError as e:
        return [str(e)]
    problems: list[str] = []
    if type_ in INDEXED_TYPES:
        problems += _source_problems(name)
    try:
        table = open_table(spec, cfg)
    except TableError as e:
        return problems + [str(e)]
    try:
        # the table's own stale warning is said once, below, with what to run
        problems += [as_file_line(w) for w in getattr(table, "warnings", ())
                     if " is older than source file " not in w]
        if type_ in INDEXED_TYPES and _older(index_path(name), name):
            problems.append(f"{index_path(name)}: {STALE} {name}: run "
                            f"\"affix map {type_}:{name}\"")
        problems += _probe(table)
    finally:
        table.close()
    return problems


def _source_problems(name: str) -> list[str]:
    if not os.path.exists(name):
        return []
    found: list[Problem] = []
    try:
        source_records(read_text(name, name), name, found)
    except TableError as e:
        return [str(e)]
    return [as_file_line(str(p)) for p in found]


def _older(index: str, source: str) -> bool:
    try:
        return os.stat(source).st_mtime > os.stat(index).st_mtime
    except OSError:
        return False


def _probe(table: Table) -> list[str]:
    """Run one harmless lookup so that broken queries show up now rather than at 4 a.m."""
    try:
        table.lookup("affix-check@example.com")
    except TableError as e:
        return [str(e)]
    return []
