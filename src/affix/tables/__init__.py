"""Lookup tables (tables.md): `open_table("type:name")`, TableCache, MapList, TableError.

Types: hash, btree, lmdb (one LMDB file NAME.lmdb, built by `affix map`), texthash, inline,
static, regexp, pcre, cidr, sqlite, unionmap, pipemap, proxy (opened directly).
"""

from affix.tables.base import Table, TableError
from affix.tables.cache import MapList, TableCache
from affix.tables.opener import open_table

__all__ = ["MapList", "Table", "TableCache", "TableError", "open_table"]
