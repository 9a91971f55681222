"""`affix [-c DIR] map [options] [TYPE:]FILE ...`: postmap for affix (tables.md §2).

    affix map FILE              build FILE.lmdb from FILE (TYPE from default_database_type)
    affix map -q KEY TABLE...   one exact lookup (exit 1 when not found); -q - reads keys
    affix map -s TABLE          dump every entry as key<TAB>value
    affix map -d KEY TABLE      delete a key (exit 1 when absent); -d - reads keys
    affix map -i TABLE          add entries read from stdin
    -f no case folding, -r replace duplicates, -w ignore duplicates silently, -p new files
    get mode 0644. -N and -n are accepted; affix never stores a terminating NUL. -o and -v
    are accepted and ignored.

hash, btree and lmdb all build NAME.lmdb (see affix.tables.indexed). The new file replaces
the old one atomically, and running servers pick it up before their next lookup: no
reload is needed.
"""

from __future__ import annotations

import getopt
import sys
from collections.abc import Iterator

from affix.tables.base import TableError
from affix.tables.opener import OPENERS, open_table, split_spec

# The compile and config modules are imported only when needed: `map -q` should start fast.
INDEXED_TYPES = ("hash", "btree", "lmdb")

PROGRAM = "affix/map"


class Fatal(Exception):
    pass


def warn(text: str) -> None:
    sys.stderr.write(f"{PROGRAM}: warning: {text}\n")


def run(ctx, args: list[str]) -> int:  # noqa: ANN001 - Context from affix.cli.main
    try:
        return _run(ctx, args)
    except Fatal as e:
        sys.stderr.write(f"{PROGRAM}: fatal: {e}\n")
        return 1
    except TableError as e:
        sys.stderr.write(f"{PROGRAM}: fatal: {e}\n")
        return 1


def _run(ctx, args: list[str]) -> int:  # noqa: ANN001
    try:
        opts, rest = getopt.getopt(args, "bc:d:fFhimNnopq:rsvw")
    except getopt.GetoptError as e:
        raise Fatal(f"{e}; usage: affix map [-fiNnprsw] [-q KEY | -d KEY] "
                    "[TYPE:]FILE...") from None
    flags = {o: v for o, v in opts}
    unsupported = [o for o in ("-b", "-h", "-m", "-F") if o in flags]
    if unsupported:
        raise Fatal(f"option {unsupported[0]} is not supported by affix map")
    fold = "-f" not in flags
    if not rest:
        raise Fatal("usage: affix map [options] [TYPE:]FILE...")
    specs = rest
    if any(":" not in s for s in rest):
        default_type = _default_type(flags.get("-c", ctx.config_dir))
        specs = [s if ":" in s else f"{default_type}:{s}" for s in rest]
    if "-q" in flags:
        return _query(flags["-q"], specs, fold)
    if "-s" in flags:
        return _dump(specs, fold)
    if "-d" in flags:
        return _delete(flags["-d"], specs, fold)
    from affix.tables.compile import Options

    dups = "replace" if "-r" in flags else "ignore" if "-w" in flags else "warn"
    build = Options(fold=fold, duplicates=dups)
    for spec in specs:
        _build(spec, build, "-i" in flags, "-p" in flags)
    return 0


def _default_type(config_dir: str | None) -> str:
    from affix.config.snapshot import load_config

    return load_config(config_dir).get("default_database_type") or "hash"


def _indexed(spec: str, verb: str) -> tuple[str, str]:
    type_, name = split_spec(spec)
    if type_ not in INDEXED_TYPES:
        if type_ in OPENERS:
            raise Fatal(f"unsupported dictionary type: {type_} does not support {verb}.")
        raise Fatal(f"unsupported dictionary type: {type_}")
    return type_, name


def _build(spec: str, build, incremental: bool, public: bool) -> None:  # noqa: ANN001
    from affix.tables.compile import add_records, compile_source
    from affix.tables.source import Problem, source_records

    _, name = _indexed(spec, "bulk-mode creation")
    problems: list[Problem] = []
    try:
        if incremental:
            records = source_records(sys.stdin.read(), "stdin", problems)
            add_records(name, records, "stdin", build, problems)
        else:
            compile_source(name, build, problems, public=public)
    except OSError as e:
        raise Fatal(f"{name}: {e.strerror or e}") from e
    finally:
        for p in problems:
            warn(str(p))


def _open(spec: str, fold: bool):  # noqa: ANN202
    table = open_table(spec, None, fold)
    for text in getattr(table, "warnings", ()):
        warn(text)
    return table


def _keys(arg: str) -> Iterator[str]:
    if arg != "-":
        yield arg
        return
    for line in sys.stdin:
        key = line.rstrip("\n")
        if key:
            yield key


def _query(arg: str, specs: list[str], fold: bool) -> int:
    tables = [_open(s, fold) for s in specs]
    found = False
    out = sys.stdout
    for key in _keys(arg):
        for table in tables:
            value = table.lookup(key)
            if value is not None:
                out.write(f"{key}\t{value}\n" if arg == "-" else f"{value}\n")
                found = True
                break
    return 0 if found else 1


def _dump(specs: list[str], fold: bool) -> int:
    for spec in specs:
        table = _open(spec, fold)
        sys.stdout.writelines(f"{k}\t{v}\n" for k, v in table.items())
    return 0


def _delete(arg: str, specs: list[str], fold: bool) -> int:
    from affix.tables.compile import delete_keys

    keys = list(_keys(arg))
    found = False
    for spec in specs:
        _, name = _indexed(spec, "deletion")
        found = bool(delete_keys(name, keys, fold)) or found
    return 0 if found else 1
