"""`affix newaliases`: build every table listed in alias_database from its aliases(5) source.

The source (`name: value, value`) is parsed here (delivery/maps.py, which also reports the first
problem as `file:line: problem`); the index is published by the tables area's write_index
(NAME.lmdb, atomic rename). Lookups during delivery still read the source file directly
(delivery/maps.py seam), so aliases work with or without a built index.
"""

from __future__ import annotations

import os
import sys

from affix.config.snapshot import load_config
from affix.delivery.maps import MapError, parse_alias_source

_INDEXED = ("hash", "btree", "lmdb")


def run(ctx, args: list[str]) -> int:
    cfg = load_config(ctx.config_dir)
    status = 0
    for spec in cfg.list("alias_database"):
        kind, _, path = spec.partition(":")
        if not path:
            sys.stderr.write(f"affix newaliases: bad table name {spec!r}: use type:name\n")
            status = 1
            continue
        try:
            build(kind, path)
        except OSError as e:
            sys.stderr.write(f"affix newaliases: open {path}: {e.strerror}\n")
            status = 1
        except MapError as e:
            sys.stderr.write(f"affix newaliases: {e}\n")
            status = 1
    return status


def build(kind: str, path: str) -> None:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        aliases = parse_alias_source(f.read(), path)
    if kind not in _INDEXED:
        return  # texthash and friends are read from the source itself
    from affix.tables.compile import write_index
    from affix.tables.indexed import index_path

    mode = 0o600 | (os.stat(path).st_mode & 0o044)
    table = {k: ", ".join(f'"{x}"' if "," in x else x for x in v) for k, v in aliases.items()}
    write_index(index_path(path), table, new_mode=mode)
