"""The built-in configuration used when there is no -c DIR and no /etc/affix.

It makes `affix start-fg` useful on a fresh machine: listen on 127.0.0.1:2525, accept mail for
this host and localhost, and keep the queue and Maildirs in a per-user data directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """Per-user data directory ($XDG_DATA_HOME/affix, else ~/.local/share/affix)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return Path(base) / "affix"


EMBEDDED_LISTEN = "127.0.0.1:2525"


def embedded_maincf() -> str:
    home = data_home()
    return "\n".join([
        "compatibility_level = 3.7",
        "mydestination = $myhostname, localhost",
        "inet_interfaces = 127.0.0.1",
        "mynetworks = 127.0.0.0/8 [::1]/128",
        f"queue_directory = {home / 'queue'}",
        f"data_directory = {home}",
        # a spool directory ending in "/" means Maildir delivery to DIR/USER/
        f"mail_spool_directory = {home / 'mail'}/",
        "alias_maps =",
        "local_recipient_maps =",
        "",
    ])


def embedded_mastercf() -> str:
    return f"{EMBEDDED_LISTEN} inet n - n - - smtpd\n"
