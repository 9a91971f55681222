"""Lookup tables (tables.md): `open_table("type:name")`, TableCache, MapList, TableError.

Types: hash, btree, lmdb (one LMDB file NAME.lmdb, built by `affix map`), texthash, inline,
static, regexp, pcre, cidr, sqlite, unionmap, pipemap, proxy (opened directly).
"""

from affix.tables.base import Table, TableError
from affix.tables.opener import open_table

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `affix map -q` starts here
if TYPE_CHECKING:
    from affix.tables.cache import MapList, TableCache

__all__ = ["MapList", "Table", "TableCache", "TableError", "open_table"]


def __getattr__(name: str) -> object:
    # TableCache pulls in the config and log modules; `affix map -q` does without them.
    if name in ("MapList", "TableCache"):
        from affix.tables import cache

        return getattr(cache, name)
    raise AttributeError(f"module 'affix.tables' has no attribute {name!r}")
