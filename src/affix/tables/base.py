"""The Table interface every lookup table implements, and the error every feature catches.

A table is written `type:name` (tables.md §1). Fixed-key tables fold the key to lower case
themselves; pattern tables (regexp, pcre, cidr) see the key unchanged.
"""

from __future__ import annotations

import os


class TableError(Exception):
    """A table could not be opened or answer a lookup. Callers turn it into a 4xx reply
    (`451 4.3.0` / `451 4.3.5`), never into "not found"; str() names the table and, where
    known, `file, line N`.

    `temporary` marks a failure of the lookup itself (a database busy or unreadable, a bad
    network in a list) as opposed to a configuration error such as a missing table: the
    restriction engine answers the first with `451 4.3.0 Temporary lookup failure`, the second
    with `451 4.3.5 Server configuration error` (restrictions.md §3)."""

    def __init__(self, message: str, temporary: bool = False):
        super().__init__(message)
        self.temporary = temporary


class Table:
    """One opened table. Subclasses set `fixed` and implement `lookup`."""

    spec: str
    fixed: bool = True

    def __init__(self, spec: str):
        self.spec = spec

    def lookup(self, key: str) -> str | None:
        """The value for `key`, or None when not found. Raises TableError."""
        raise NotImplementedError

    def changed(self) -> bool:
        """True when the table's file changed since it was opened (TableCache reopens it)."""
        return False

    def close(self) -> None:
        """Release files or database handles (the table must not be used afterwards)."""

    def items(self) -> list[tuple[str, str]]:
        """Every entry, for `affix map -s`; pattern and query tables cannot list theirs."""
        raise TableError(f"table {self.spec}: dump is not supported for this table type")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec}>"


def empty_result(spec: str, key: str) -> TableError:
    """tables.md §1: an empty value is a configuration error, not a result."""
    return TableError(f"table {spec}: key {key}: empty string result is not allowed; "
                      f"table {spec} should return NO RESULT in case of NOT FOUND")


FileIdentity = tuple[int, int, int, int] | None


def file_identity(path: str) -> FileIdentity:
    """What change detection compares: device, inode, mtime (ns) and size; None if missing.

    A table compiled by `affix map` is renamed into place, so its inode always changes; the
    mtime and size catch text files edited in place.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class FileTable(Table):
    """A table read from one file: changed() compares the file's identity with the one seen
    at open. (Postfix never notices edits of regexp/cidr/texthash files without a reload;
    affix reloads them too, as an improvement.)"""

    path: str
    _identity: FileIdentity = None

    def _remember(self, path: str) -> None:
        self.path = path
        self._identity = file_identity(path)

    def changed(self) -> bool:
        return file_identity(self.path) != self._identity


def read_text(path: str, spec: str) -> str:
    """A table source file as text (undecodable bytes kept via surrogateescape)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        prefix = "" if spec == path else f"{spec}: "
        raise TableError(f"{prefix}open {path}: {e.strerror or e}") from e
    return data.decode("utf-8", "surrogateescape")
