"""Building NAME.lmdb (`affix map`): parse the source, then publish the index atomically.

The index is written into a temporary file in the same directory, synced, and renamed over
the old one, so a reader sees either the old table or the new one, never a half-written file;
a failed build leaves the old table in place. Edits (`-i`, `-d`) rebuild the file the same way
rather than changing it in place, which is what lets readers go without LMDB's lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter

import lmdb

from affix.tables.base import TableError, read_text
from affix.tables.indexed import MAX_KEY_BYTES, index_path
from affix.tables.source import Problem, source_records

_ENC = "utf-8"
_ERR = "surrogateescape"


@dataclass(frozen=True)
class Options:
    fold: bool = True  # lowercase keys (postmap -f turns this off)
    duplicates: str = "warn"  # "warn" (keep first), "replace" (-r) or "ignore" (-w)


def collect(records: Iterable[tuple[str, str, int]], path: str, opts: Options,
            problems: list[Problem], table: dict[str, str] | None = None) -> dict[str, str]:
    """Records into a key -> value dict, applying case folding and the duplicate policy."""
    table = {} if table is None else table
    fold, mode = opts.fold, opts.duplicates
    for key, value, line in records:
        if fold:
            key = key.lower()
        if len(key) > MAX_KEY_BYTES // 4 and len(key.encode(_ENC, _ERR)) > MAX_KEY_BYTES:
            problems.append(Problem(path, line, f"key is longer than {MAX_KEY_BYTES} bytes: "
                                                "skipping this entry"))
            continue
        if key in table:
            if mode == "replace":
                table[key] = value
            elif mode == "warn":
                problems.append(Problem(path, line, f'duplicate entry: "{key}"'))
            continue
        table[key] = value
    return table


def compile_source(name: str, opts: Options, problems: list[Problem],
                   public: bool = False) -> int:
    """Build NAME.lmdb from the text file NAME; returns the number of entries.
    `public` (postmap -p): a new index gets mode 0644 whatever the source's mode."""
    with _no_gc():
        text = read_text(name, name)
        table = collect(source_records(text, name, problems), name, opts, problems)
        write_index(index_path(name), table,
                    new_mode=0o644 if public else _mode_from_source(name),
                    size_hint=len(text))
    return len(table)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Building a million small tuples triggers the cyclic collector over and over, for
    nothing (they hold no cycles); pausing it makes a large compile several times faster."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_index(name: str) -> dict[str, str]:
    """Every entry of NAME.lmdb (for -i and -d, which rebuild the file)."""
    from affix.tables.indexed import IndexedTable

    table = IndexedTable(f"lmdb:{name}", "lmdb", name, fold=False)
    try:
        return dict(table.items())
    finally:
        table.close()


def write_index(path: str, table: dict[str, str], new_mode: int = 0o644,
                size_hint: int = 0) -> None:
    """Publish `table` as the LMDB file `path` (temp file, fsync, rename, fsync dir)."""
    # encode first, then sort by key alone: much faster than sorting (str, str) tuples
    items = [(k.encode(_ENC, _ERR), v.encode(_ENC, _ERR)) for k, v in table.items()]
    items.sort(key=itemgetter(0))
    directory = os.path.dirname(path) or "."
    tmp = _write_temp(path, directory, items, size_hint)
    try:
        _copy_owner_and_mode(path, tmp, new_mode)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        _fsync_dir(directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _InodeBusy(Exception):
    """py-lmdb still lists the new file's inode as open (see _write_temp)."""


def _write_temp(path: str, directory: str, items: list[tuple[bytes, bytes]],
                size_hint: int) -> str:
    """Write the index into a new temporary file next to `path` and return its name.

    py-lmdb refuses to open a file whose inode it lists as open in this process; when
    another thread is just closing an old index, the file system may already have given
    that inode to our new file. Then keep that file (so the inode stays taken) and use
    another one."""
    held: list[str] = []
    try:
        for _ in range(8):
            fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                       dir=directory)
            os.close(fd)
            try:
                _write_lmdb(tmp, items, size_hint)
                return tmp
            except _InodeBusy:
                held.append(tmp)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        raise TableError(f"{path}: cannot create a temporary file")
    finally:
        for name in held:
            with contextlib.suppress(OSError):
                os.unlink(name)


def _write_lmdb(tmp: str, items: list[tuple[bytes, bytes]], size_hint: int) -> None:
    # One write transaction with the keys in order (append mode: no page splits, full pages).
    # The map size is only address space; the file grows as pages are written.
    map_size = max(1 << 24, 4 * size_hint + sum(len(k) + len(v) + 16 for k, v in items))
    while True:
        try:
            env = lmdb.open(tmp, subdir=False, lock=False, map_size=map_size, sync=False,
                            metasync=False, max_dbs=0, meminit=False, readahead=False)
        except lmdb.Error as e:
            if "already open" in str(e):
                raise _InodeBusy from e
            raise TableError(f"write {tmp}: {e}") from e
        try:
            with env.begin(write=True) as txn, txn.cursor() as cur:
                cur.putmulti(items, append=True)
            env.sync(True)
            return
        except lmdb.MapFullError:
            map_size *= 2
        except lmdb.Error as e:
            raise TableError(f"write {tmp}: {e}") from e
        finally:
            env.close()
        os.truncate(tmp, 0)


def _mode_from_source(name: str) -> int:
    """postmap: a new index gets the source's group/other read bits, owner read/write."""
    try:
        return 0o600 | (os.stat(name).st_mode & 0o044)
    except OSError:
        return 0o644


def _copy_owner_and_mode(old: str, new: str, new_mode: int) -> None:
    """A rebuilt index keeps the old file's mode (and owner, when allowed)."""
    try:
        st = os.stat(old)
    except OSError:
        os.chmod(new, new_mode)
        return
    os.chmod(new, stat.S_IMODE(st.st_mode))
    with contextlib.suppress(OSError):
        os.chown(new, st.st_uid, st.st_gid)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """Serialize read-modify-write updates (-i, -d) of tables in one directory."""
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def add_records(name: str, records: Iterable[tuple[str, str, int]], where: str,
                opts: Options, problems: list[Problem]) -> int:
    """postmap -i: add entries to NAME.lmdb (created when missing); returns entries added."""
    path = index_path(name)
    with _locked(path), _no_gc():
        table = read_index(name) if os.path.exists(path) else {}
        before = len(table)
        collect(records, where, opts, problems, table)
        write_index(path, table, new_mode=_mode_from_source(name))
    return len(table) - before


def delete_keys(name: str, keys: Iterable[str], fold: bool = True) -> list[str]:
    """postmap -d: remove keys from NAME.lmdb; returns the keys that were present."""
    path = index_path(name)
    with _locked(path), _no_gc():
        table = read_index(name)
        found = [k for k in keys if table.pop(k.lower() if fold else k, None) is not None]
        if found:
            write_index(path, table)
    return found
