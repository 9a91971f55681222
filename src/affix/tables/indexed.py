"""Indexed tables: `hash:`, `btree:` and `lmdb:` all read one LMDB file, NAME.lmdb.

Postfix's hash and btree files (NAME.db) are Berkeley DB, which affix cannot read; the admin
runs `affix map` once to build NAME.lmdb from the same source file. Using a name of its own
lets affix and Postfix run side by side on one /etc/postfix during a migration.

A published index is never modified in place: `affix map` writes a new file and renames it
over the old one (tables/compile.py). So readers open it without LMDB's lock file
(`lock=False`, no write access needed), keep one read transaction for the life of the
table, and notice a recompile through the file's identity (changed()).
"""

from __future__ import annotations

import os
import threading
import time

import lmdb

from affix.tables.base import Table, TableError, empty_result, file_identity

SUFFIX = ".lmdb"
MAX_KEY_BYTES = 511  # LMDB's compiled-in key size limit
INDEXED_TYPES = ("hash", "btree", "lmdb")
_ENC = "utf-8"
_ERR = "surrogateescape"


def index_path(name: str) -> str:
    return name + SUFFIX


def missing_reason(type_: str, name: str) -> str:
    """Why NAME.lmdb cannot be opened, with the fix (tables.md §1: `open database ...`)."""
    path = index_path(name)
    reason = f"open database {path}: No such file or directory"
    if os.path.exists(name + ".db"):
        return (f"{reason} ({name}.db is a Postfix Berkeley DB file, which affix cannot "
                f"read: run \"affix map {type_}:{name}\")")
    if os.path.exists(name):
        return f"{reason} (run \"affix map {type_}:{name}\")"
    return reason


EnvKey = tuple[int, int]  # (st_dev, st_ino) of the mapped file


class _EnvPool:
    """LMDB allows one Environment per file and process (py-lmdb refuses a second open), but
    several TableCaches may hold the same table: two config snapshots during a reload, or
    several threads. So the Environments are shared, with a reference count per file."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._envs: dict[EnvKey, list] = {}  # key -> [Environment, users]

    def acquire(self, key: EnvKey, opener) -> lmdb.Environment:  # noqa: ANN001
        with self._lock:
            entry = self._envs.get(key)
            if entry is None:
                entry = self._envs[key] = [opener(), 0]
            entry[1] += 1
            return entry[0]

    def release(self, key: EnvKey) -> None:
        with self._lock:
            entry = self._envs.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del self._envs[key]
                entry[0].close()


_POOL = _EnvPool()


def _open_env(spec: str, type_: str, name: str, path: str) -> tuple[lmdb.Environment,
                                                                   tuple[int, int, int, int]]:
    """Open the file once and hand LMDB that very file (through /proc/self/fd): `affix map`
    may rename a new index over the path at any moment, and both our change detection and
    the Environment pool must name the inode actually mapped."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise TableError(f"{spec}: {missing_reason(type_, name)}") from None
    except OSError as e:
        raise TableError(f"{spec}: open database {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        proc = f"/proc/self/fd/{fd}"
        target = proc if os.path.exists(proc) else path
        env = _POOL.acquire((st.st_dev, st.st_ino), lambda: lmdb.open(
            target, subdir=False, readonly=True, lock=False, max_dbs=0, readahead=False))
    except lmdb.Error as e:
        raise TableError(f"{spec}: open database {path}: not an affix table file "
                         f"({e}): run \"affix map {type_}:{name}\"") from e
    finally:
        os.close(fd)
    return env, (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class IndexedTable(Table):
    """A read-only view of NAME.lmdb."""

    fixed = True

    def __init__(self, spec: str, type_: str, name: str, fold: bool = True):
        super().__init__(spec)
        self.path = index_path(name)
        self.warnings: tuple[str, ...] = ()
        self._fold = fold
        self._env, self._identity = _open_env(spec, type_, name, self.path)
        self._txn = self._env.begin(buffers=False)
        self._nul = self._has_nul_keys()
        self._stale_warning(name)
        if fold and not self._nul:
            self.lookup = _folding_lookup(self._txn.get, spec)  # type: ignore[method-assign]

    def _has_nul_keys(self) -> bool:
        """Postfix-built LMDB files store a trailing NUL after keys and values; affix's don't.
        Detect it once so such files are readable too."""
        with self._txn.cursor() as cur:
            return cur.first() and cur.key().endswith(b"\0")

    def _stale_warning(self, name: str) -> None:
        # tables.md §1: source newer than the database and last changed over 100 s ago
        try:
            src = os.stat(name).st_mtime
        except OSError:
            return
        if src > os.stat(self.path).st_mtime and time.time() - src > 100:
            self.warnings = (f"database {self.path} is older than source file {name}",)

    def lookup(self, key: str) -> str | None:
        if self._fold:
            key = key.lower()
        raw = key.encode(_ENC, _ERR)
        try:
            value = self._txn.get(raw + b"\0" if self._nul else raw)
        except lmdb.BadValsizeError:
            return None
        if value is None:
            return None
        if self._nul:
            value = value.rstrip(b"\0")
        if not value:
            raise empty_result(self.spec, key)
        return value.decode(_ENC, _ERR)

    def changed(self) -> bool:
        return file_identity(self.path) != self._identity

    def items(self) -> list[tuple[str, str]]:
        with self._txn.cursor() as cur:
            return [(_text(k), _text(v)) for k, v in cur.iternext()]

    def close(self) -> None:
        try:
            self._txn.abort()
        finally:
            _POOL.release(self._identity[:2])


def _folding_lookup(get, spec: str):  # noqa: ANN001, ANN202
    """The common case as a closure over the transaction's get: the lookup every smtpd
    restriction makes, so it is kept to one encode, one get and one decode."""

    def lookup(key: str) -> str | None:
        try:
            value = get(key.lower().encode())
        except UnicodeEncodeError:  # undecodable input bytes, kept as surrogates
            value = get(key.lower().encode(_ENC, _ERR))
        except lmdb.BadValsizeError:  # the empty key: LMDB cannot store it, so not found
            return None
        if value:
            try:
                return value.decode()
            except UnicodeDecodeError:
                return value.decode(_ENC, _ERR)
        if value is None:
            return None
        raise empty_result(spec, key)

    return lookup


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode(_ENC, _ERR)
