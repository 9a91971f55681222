"""sqlite:/path/to/config.cf tables, as Postfix's sqlite_table(5) describes them.

The config file sets `dbpath`, `query` (or the legacy `table`, `select_field`, `where_field`,
`additional_conditions`), `result_format`, `domain` and `expansion_limit`. Query expansions:
`%s` (the key), `%u` (local part), `%d` (domain), `%1`..`%9` (domain labels, `%1` the top
level); upper-case forms act the same in the query and name the *key* in result_format.
A key the query cannot be expanded for (no domain for %d, ...) is simply not found.
"""

from __future__ import annotations

import os
import re
import sqlite3

from affix.ascii import is_digits
from affix.config.errors import ConfigError
from affix.config.maincf import parse_maincf
from affix.config.snapshot import Config, split_list
from affix.tables.base import FileTable, TableError, read_text

_PARTIAL = re.compile(r"%[udUD1-9]")


class _Suppressed(Exception):
    """The key lacks a part the template needs: no query, no result."""


class SqliteTable(FileTable):
    def __init__(self, spec: str, path: str, cfg: Config | None = None, fold: bool = True):
        super().__init__(spec)
        self._remember(path)
        self.warnings: tuple[str, ...] = ()
        settings = self._settings(path, spec)
        self.query = settings.get("query") or _legacy_query(settings, spec)
        self.result_format = settings.get("result_format", "%s")
        self.domains = [d.lower() for d in split_list(settings.get("domain", ""))]
        self.limit = _int(settings.get("expansion_limit", "0"), "expansion_limit", spec)
        self.fixed = _PARTIAL.search(self.query) is None
        for template in (self.query, self.result_format):  # refuse bad %-codes at open
            try:
                expand(template, "user@example.com", "r@example.com", quote=False)
            except _Suppressed:
                pass
            except TableError as e:
                raise TableError(f"{spec}: {path}: {e}") from None
        self._fold = fold and self.fixed
        dbpath = settings.get("dbpath", "")
        if not dbpath:
            raise TableError(f"{spec}: {path}: missing dbpath setting")
        if not os.path.exists(dbpath):
            raise TableError(f"{spec}: open database {dbpath}: No such file or directory")
        try:
            self._db = sqlite3.connect(f"file:{dbpath}?mode=ro", uri=True,
                                       check_same_thread=False)
        except sqlite3.Error as e:
            raise TableError(f"{spec}: open database {dbpath}: {e}") from e

    @staticmethod
    def _settings(path: str, spec: str) -> dict[str, str]:
        try:
            entries, _ = parse_maincf(read_text(path, spec), path)
        except ConfigError as e:
            raise TableError(f"{spec}: {e}") from e
        return {name: entry.value for name, entry in entries.items()}

    def lookup(self, key: str) -> str | None:
        if self._fold:
            key = key.lower()
        if not self._eligible(key):
            return None
        try:
            sql = expand(self.query, key, None, quote=True)
        except _Suppressed:
            return None
        try:
            rows = self._db.execute(sql).fetchall()
        except sqlite3.Error as e:
            raise TableError(f"{self.spec}: query failed: {e}: {sql}", temporary=True) from e
        values: list[str] = []
        for row in rows:
            if not row or row[0] is None or str(row[0]) == "":
                continue
            try:
                values.append(expand(self.result_format, key, str(row[0]), quote=False))
            except _Suppressed:
                continue
            if self.limit and len(values) > self.limit:
                raise TableError(f"{self.spec}: key {key}: expansion limit exceeded "
                                 f"({self.limit})")
        return ",".join(values) if values else None

    def _eligible(self, key: str) -> bool:
        """With `domain` set, only user@domain keys with a listed domain are queried."""
        if not self.domains:
            return True
        local, at, domain = key.rpartition("@")
        return bool(at and local) and domain.lower() in self.domains

    def close(self) -> None:
        self._db.close()


def _legacy_query(s: dict[str, str], spec: str) -> str:
    if not all(s.get(k) for k in ("table", "select_field", "where_field")):
        raise TableError(f"{spec}: missing query setting")
    extra = s.get("additional_conditions", "")
    return (f"SELECT {s['select_field']} FROM {s['table']} "
            f"WHERE {s['where_field']} = '%s' {extra}").strip()


def _int(value: str, name: str, spec: str) -> int:
    if not is_digits(value.strip()):
        raise TableError(f"{spec}: bad {name} value: {value}")
    return int(value)


def _parts(value: str) -> tuple[str, str | None]:
    local, at, domain = value.rpartition("@")
    return (local, domain) if at else (value, None)


def expand(template: str, key: str, result: str | None, quote: bool) -> str:
    """Expand %-sequences in a query (result None) or a result_format."""
    out: list[str] = []
    i = 0
    while i < len(template):
        c = template[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        code = template[i + 1:i + 2]
        if code == "%":
            out.append("%")
        else:
            source = key if (result is None or code.isupper() or is_digits(code)) else result
            text = _expansion(code.lower(), source)
            out.append(text.replace("'", "''") if quote else text)
        i += 2
    return "".join(out)


def _expansion(code: str, value: str) -> str:
    local, domain = _parts(value)
    if code == "s":
        return value
    if code == "u":
        if domain is not None and not local:
            raise _Suppressed
        return local
    if code == "d":
        if not domain:
            raise _Suppressed
        return domain
    if is_digits(code) and code != "0":
        labels = (domain or "").split(".") if domain else []
        if int(code) > len(labels):
            raise _Suppressed
        return labels[-int(code)]
    raise TableError(f'invalid expansion "%{code}"')
