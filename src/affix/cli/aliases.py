"""`affix newaliases`: check (and, once the tables area provides compile, build) every table
listed in alias_database.

Seam: until affix.tables can compile `hash:` files, local delivery reads the aliases source
file directly (delivery/maps.py), so this command validates the source and reports the first
problem as `file:line: problem`, which is what an admin needs after editing /etc/aliases.
"""

from __future__ import annotations

import sys

from affix.config.snapshot import load_config
from affix.delivery.maps import MapError, parse_alias_source


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
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                parse_alias_source(f.read(), path)
        except OSError as e:
            sys.stderr.write(f"affix newaliases: open {path}: {e.strerror}\n")
            status = 1
        except MapError as e:
            sys.stderr.write(f"affix newaliases: {e}\n")
            status = 1
    return status
