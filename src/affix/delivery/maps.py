"""Table lookups for delivery (alias_maps, virtual_mailbox_maps, virtual_uid_maps, ...).

Seam: the `tables` area provides affix.tables (TableCache, MapList, compiled `hash:` files
built by `affix map`/`affix newaliases`). Until it is on this branch, SourceMaps reads the
*source* text files directly: for `hash:/etc/aliases` the file /etc/aliases in aliases(5)
syntax, for other indexed types (hash, btree, lmdb, texthash) `key value` lines, and `static:X`.
Any other table type is a lookup error, which callers turn into a deferral, never a bounce.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from affix.config.snapshot import Config, split_list

_FILE_TYPES = ("hash", "btree", "lmdb", "texthash", "cdb", "dbm")


class MapError(Exception):
    """A table could not be read: the delivery is deferred."""


def parse_alias_source(text: str, where: str = "aliases") -> dict[str, list[str]]:
    """aliases(5): `name: value, value`; indented lines continue; `#` lines are comments."""
    logical: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and logical:
            logical[-1] = (logical[-1][0], logical[-1][1] + " " + line.strip())
        else:
            logical.append((number, line.strip()))
    out: dict[str, list[str]] = {}
    for number, line in logical:
        name, colon, rest = line.partition(":")
        if not colon or not name.strip():
            raise MapError(f"{where}:{number}: missing colon in alias entry")
        key = name.strip().strip('"').lower()
        out.setdefault(key, split_alias_values(rest))
    return out


def split_alias_values(text: str) -> list[str]:
    """Split on commas outside double quotes; quotes around a value are removed."""
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


def _parse_kv_source(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.strip().partition(" ")
        if "\t" in key:
            key, _, value = line.strip().partition("\t")
        out.setdefault(key.lower(), value.strip())
    return out


@dataclass
class _SourceTable:
    spec: str
    path: str
    alias_format: bool
    mtime: float = -1.0
    data: dict | None = None

    def lookup(self, key: str) -> str | None:
        try:
            mtime = os.stat(self.path).st_mtime
            if self.data is None or mtime != self.mtime:
                with open(self.path, encoding="utf-8", errors="surrogateescape") as f:
                    text = f.read()
                self.data = (parse_alias_source(text, self.path) if self.alias_format
                             else _parse_kv_source(text))
                self.mtime = mtime
        except OSError as e:
            raise MapError(f"{self.spec}: {e.strerror}") from e
        value = self.data.get(key.lower())
        if value is None:
            return None
        return ", ".join(value) if isinstance(value, list) else value


class SourceMaps:
    """An ordered list of tables (a `*_maps` value); the first hit wins."""

    def __init__(self, value: str, alias_format: bool = False):
        self.tables: list[_SourceTable | str] = []
        for spec in split_list(value):
            kind, _, name = spec.partition(":")
            if kind == "static":
                self.tables.append(spec)
            elif kind == "nis":
                continue  # Postfix without a NIS domain: lookups disabled, never a hit
            elif kind in _FILE_TYPES and name:
                self.tables.append(_SourceTable(spec, name, alias_format))
            else:
                self.tables.append(_SourceTable(spec, "", alias_format, data=None))

    def lookup(self, key: str) -> str | None:
        for table in self.tables:
            if isinstance(table, str):
                return table.partition(":")[2].strip("{} ")
            if not table.path:
                raise MapError(f"{table.spec}: unsupported table type")
            value = table.lookup(key)
            if value is not None:
                return value
        return None


class DeliveryMaps:
    """One cache of map lists per delivery agent (tables re-read when their file changes)."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._cache: dict[tuple[str, bool], SourceMaps] = {}

    def lookup(self, param: str, key: str, alias_format: bool = False) -> str | None:
        value = self.cfg.get(param)
        maps = self._cache.get((value, alias_format))
        if maps is None:
            maps = self._cache[(value, alias_format)] = SourceMaps(value, alias_format)
        return maps.lookup(key)
