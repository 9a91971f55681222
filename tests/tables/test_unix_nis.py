"""unix:passwd.byname and nis: stand in Postfix's default local_recipient_maps and alias_maps."""

from __future__ import annotations

import pwd

from affix.tables import open_table


def test_passwd_table_finds_system_users_and_not_addresses():
    table = open_table("proxy:unix:passwd.byname")
    root = pwd.getpwuid(0).pw_name
    assert table.lookup(root).startswith(f"{root}:*:0:")
    assert table.lookup(f"{root}@example.org") is None
    assert table.lookup("no-such-user-affix-test") is None


def test_nis_table_never_has_a_result():
    assert open_table("nis:mail.aliases").lookup("postmaster") is None
