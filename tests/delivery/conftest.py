"""Fixtures of the delivery tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

VMAIL_UID = 65534  # the virtual mailboxes' owner (nobody), over virtual_minimum_uid


@dataclass
class Vmail:
    base: Path  # virtual_mailbox_base, the owner's to write in
    main_cf: str  # its lines: base and static uid/gid maps
    uid: int = VMAIL_UID


@pytest.fixture
def vmail() -> Iterator[Vmail]:
    """A virtual_mailbox_base as an admin sets one up: a directory the mailboxes' owner
    (not root) may write, where that user can reach it (pytest's tmp_path is root's only)."""
    top = Path(tempfile.mkdtemp(prefix="affix-vmail-"))
    top.chmod(0o755)
    base = top / "vmail"
    base.mkdir()
    if os.geteuid() == 0:
        os.chown(base, VMAIL_UID, VMAIL_UID)
    yield Vmail(base, f"virtual_mailbox_base = {base}\nvirtual_uid_maps = static:{VMAIL_UID}\n"
                      f"virtual_gid_maps = static:{VMAIL_UID}\n")
    shutil.rmtree(top, ignore_errors=True)
