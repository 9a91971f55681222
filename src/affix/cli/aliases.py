"""`affix newaliases` (also `affix sendmail -bi`): build every table in alias_database.

Each source (`name: value, value`, aliases(5)) is checked and published as the index
`hash:` alias_maps entries open (delivery/aliases.py). A bad line is a warning
(`file:line: problem`) and is left out, as postalias leaves it; a table whose source cannot be
read or whose index cannot be written is left as it was.
"""

from __future__ import annotations

import sys

from affix.cli.main import refuse_arguments
from affix.config.snapshot import load_config
from affix.delivery.aliases import AliasError, build_alias_table
from affix.tables.base import TableError

USAGE = "usage: affix [-c DIR] newaliases\n"


def run(ctx, args: list[str]) -> int:
    refused = refuse_arguments(args, USAGE)
    if refused is not None:
        return refused
    cfg = load_config(ctx.config_dir)
    status = 0
    for spec in cfg.list("alias_database"):
        try:
            for problem in build_alias_table(spec):
                sys.stderr.write(f"affix newaliases: warning: {problem}\n")
        except OSError as e:
            sys.stderr.write(f"affix newaliases: open {e.filename or spec}: {e.strerror}\n")
            status = 1
        except (AliasError, TableError) as e:
            sys.stderr.write(f"affix newaliases: {e}\n")
            status = 1
    return status
