"""TableCache: each table opened once per config snapshot, reopened when its file changes.

Postfix daemons exit and restart when an indexed table changes (config.md §8); affix instead
reopens the table before its next use, so `affix map` takes effect without a reload. This
holds for regexp, pcre, cidr, texthash and sqlite query files too (Postfix needs a reload
for those). A table that cannot be opened is cached as an UnavailableTable whose lookups
raise TableError (a 4xx for the client), and which is retried when its file appears.
"""

from __future__ import annotations

import re
import time

from affix import log
from affix.config.snapshot import Config, split_list
from affix.tables.base import FileIdentity, Table, TableError, file_identity
from affix.tables.opener import open_table


class UnavailableTable(Table):
    """Stands in for a table that failed to open: every lookup is a TableError."""

    fixed = True

    def __init__(self, spec: str, reason: str):
        super().__init__(spec)
        self.reason = reason
        self._watch = _watched_files(spec)
        self._seen = tuple(file_identity(p) for p in self._watch)

    def lookup(self, key: str) -> str | None:
        raise TableError(f"{self.spec} is unavailable. {self.reason}")

    def changed(self) -> bool:
        return tuple(file_identity(p) for p in self._watch) != self._seen


_NEVER = float("-inf")
_PATHS = re.compile(r"[A-Za-z0-9_]+:([/.][^\s,{}]*)")


def _watched_files(spec: str) -> tuple[str, ...]:
    """The files whose appearance or change may fix a table that failed to open (also those
    named inside unionmap:{...} and pipemap:{...})."""
    from affix.tables.indexed import index_path

    return tuple(p for name in _PATHS.findall(spec) for p in (name, index_path(name)))


class MapList:
    """An ordered list of tables (alias_maps, ...): the first table with the key wins;
    a TableError stops the search (tables.md §1)."""

    def __init__(self, cache: TableCache, specs: list[str]):
        self.specs = tuple(specs)
        self._cache = cache

    @property
    def tables(self) -> list[Table]:
        return [self._cache.get(s) for s in self.specs]

    def lookup(self, key: str) -> str | None:
        for spec in self.specs:
            value = self._cache.get(spec).lookup(key)
            if value is not None:
                return value
        return None

    def __bool__(self) -> bool:
        return bool(self.specs)


class TableCache:
    """Open tables for one config snapshot. Not thread-safe: one per event loop.

    A table's files are looked at (one stat each) at most once per CHECK_EVERY seconds, and
    again after recheck(): a lookup per RCPT must not cost a system call per table, yet an
    admin's `affix map` must show in the next SMTP session (smtpd calls recheck() per
    connection, much as Postfix's daemons look for changed tables between clients).
    """

    CHECK_EVERY = 1.0

    def __init__(self, cfg: Config | None = None, program: str = "affix"):
        self.cfg = cfg
        self.program = program
        self._tables: dict[str, Table] = {}
        self._checked: dict[str, float] = {}  # spec -> when its files were last looked at

    def recheck(self) -> None:
        """Look at every table's files again at its next use."""
        self._checked.clear()

    def get(self, spec: str) -> Table:
        table = self._tables.get(spec)
        if table is not None:
            now = time.monotonic()
            broken = isinstance(table, UnavailableTable)  # looked at every time: heals at once
            if not broken and now - self._checked.get(spec, _NEVER) < self.CHECK_EVERY:
                return table
            self._checked[spec] = now
            if not table.changed():
                return table
            if not broken:
                log.info(self.program, f"table {spec} has changed -- reopening")
            table.close()
        table = self._open(spec)
        self._tables[spec] = table
        self._checked[spec] = time.monotonic()
        return table

    def maps(self, value: str) -> MapList:
        """A parameter value such as `hash:/etc/aliases, texthash:/x` as a MapList."""
        return MapList(self, split_list(value))

    def _open(self, spec: str) -> Table:
        try:
            table = open_table(spec, self.cfg)
        except TableError as e:
            log.error(self.program, str(e))
            return UnavailableTable(spec, str(e))
        for text in getattr(table, "warnings", ()):
            log.warning(self.program, text)
        return table

    def close(self) -> None:
        for table in self._tables.values():
            table.close()
        self._tables.clear()
        self._checked.clear()


__all__ = ["FileIdentity", "MapList", "TableCache", "UnavailableTable"]
