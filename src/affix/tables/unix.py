"""`unix:passwd.byname` (the system's users) and `nis:` (never a result).

Both stand in Postfix's defaults: local_recipient_maps is `proxy:unix:passwd.byname
$alias_maps` and alias_maps is `hash:/etc/aliases, nis:mail.aliases`. affix has no NIS client;
Postfix on a host without a NIS domain skips such lookups too, so `nis:` finds nothing.
"""

from __future__ import annotations

import pwd

from affix.tables.base import Table, TableError


class PasswdTable(Table):
    """A user name -> its passwd(5) entry, as getpwnam() knows it."""

    fixed = True

    def lookup(self, key: str) -> str | None:
        if not key or "@" in key or ":" in key:
            return None  # addresses and odd keys are never user names
        try:
            entry = pwd.getpwnam(key)
        except KeyError:
            return None
        return ":".join([entry.pw_name, "*", str(entry.pw_uid), str(entry.pw_gid),
                         entry.pw_gecos, entry.pw_dir, entry.pw_shell])


class NisTable(Table):
    fixed = True

    def lookup(self, key: str) -> str | None:
        return None


def open_unix(spec: str, name: str) -> Table:
    if name != "passwd.byname":
        raise TableError(f"{spec}: unknown unix map name (only passwd.byname)")
    return PasswdTable(spec)
