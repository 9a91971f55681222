"""open_table("type:name"): one entry point for every table type."""

from __future__ import annotations

from collections.abc import Callable

from affix.tables.base import Table, TableError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `affix map -q` starts here
if TYPE_CHECKING:
    from affix.config.snapshot import Config

# type -> function(spec, name, cfg, fold) -> Table; see _register below.
Opener = Callable[[str, str, "Config | None", bool], Table]
OPENERS: dict[str, Opener] = {}


def split_spec(spec: str) -> tuple[str, str]:
    """'type:name' -> (type, name); raises TableError without a type."""
    type_, sep, name = spec.partition(":")
    if not sep or not type_ or not name or not type_.replace("_", "").isalnum():
        raise TableError(f'bad table name "{spec}": need "type:name"')
    return type_.lower(), name


def open_table(spec: str, cfg: Config | None = None, fold: bool = True) -> Table:
    """Open a table. `fold=False` (postmap -f) keeps the key's case in fixed tables."""
    type_, name = split_spec(spec)
    opener = OPENERS.get(type_)
    if opener is None:
        raise TableError(f"unsupported dictionary type: {type_}")
    return opener(spec, name, cfg, fold)


def _indexed(spec: str, name: str, cfg: Config | None, fold: bool) -> Table:
    from affix.tables.indexed import IndexedTable

    return IndexedTable(spec, split_spec(spec)[0], name, fold)


def _texthash(spec: str, name: str, cfg: Config | None, fold: bool) -> Table:
    from affix.tables.simple import TexthashTable

    return TexthashTable(spec, name, fold)


def _inline(spec: str, name: str, cfg: Config | None, fold: bool) -> Table:
    from affix.tables.simple import inline_table

    return inline_table(spec, name, fold)


def _static(spec: str, name: str, cfg: Config | None, fold: bool) -> Table:
    from affix.tables.simple import StaticTable

    return StaticTable(spec, name)


def _regexp(spec: str, name: str, cfg: Config | None, fold: bool) -> Table:
    from affix.tables.regexp import open_pattern_table

    return open_pattern_table(spec, split_spec(spec)[0], name)


def _cidr(spec: str, name: str, cfg: Config | None, fold: bool) -> Table:
    from affix.tables.cidr import CidrTable

    return CidrTable(spec, name)


def _sqlite(spec: str, name: str, cfg: Config | None, fold: bool) -> Table:
    from affix.tables.sqlite import SqliteTable

    return SqliteTable(spec, name, cfg, fold)


def _union(spec: str, name: str, cfg: Config | None, fold: bool) -> Table:
    from affix.tables.union import open_composite

    return open_composite(spec, split_spec(spec)[0], name, cfg, fold)


def _proxy(spec: str, name: str, cfg: Config | None, fold: bool) -> Table:
    # proxymap is only a transport for another table; affix opens that table directly.
    table = open_table(name, cfg, fold)
    table.spec = spec
    return table


def _unix(spec: str, name: str, cfg: Config | None, fold: bool) -> Table:
    from affix.tables.unix import open_unix

    return open_unix(spec, name)


def _nis(spec: str, name: str, cfg: Config | None, fold: bool) -> Table:
    from affix.tables.unix import NisTable

    return NisTable(spec)


def _register() -> None:
    for type_ in ("hash", "btree", "lmdb"):
        OPENERS[type_] = _indexed
    OPENERS.update(texthash=_texthash, inline=_inline, static=_static, regexp=_regexp,
                   pcre=_regexp, cidr=_cidr, sqlite=_sqlite, unionmap=_union, pipemap=_union,
                   proxy=_proxy, unix=_unix, nis=_nis)


_register()
