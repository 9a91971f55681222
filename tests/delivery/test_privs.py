"""Deliveries with another user's privileges run in a forked child (delivery/privs.py)."""

import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from affix.delivery import privs
from affix.delivery.mailbox import mbox_record

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")


def _children() -> list[int]:
    me = str(os.getpid())
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[1] == me:
            out.append(int(pid))
    return out


def _open_files(pid: int) -> set[str]:
    out: set[str] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # gone already
        return out
    for fd in fds:
        with contextlib.suppress(OSError):  # closed since the listing
            out.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return out


def test_the_child_of_a_delivery_holds_none_of_the_parents_files():
    """A queue file's locked descriptor copied into the child would keep the claim alive
    (queue/store.py claim) while the child waits for a mailbox lock."""
    work = Path(tempfile.mkdtemp(prefix="affix-privs-"))
    try:
        work.chmod(0o777)
        claimed = work / "4A1B2C3D4E"
        claimed.write_bytes(b"queue file")
        fd = os.open(claimed, os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        mbox = work / "nobody"
        (work / "nobody.lock").write_text("held by the test")  # the child waits for it
        nobody = privs.Privs(65534, 65534, "nobody", "/")
        errors: list[BaseException] = []

        def deliver() -> None:
            try:
                privs.run_file_op(nobody, "mbox", str(mbox),
                                  mbox_record("a@example.org", b"", b"Subject: x\n\nhi\n"),
                                  locks=("dotlock",), attempts=100, delay=0.05)
            except BaseException as e:  # noqa: BLE001 - reported by the assertion below
                errors.append(e)

        thread = threading.Thread(target=deliver)
        thread.start()
        # the child is looked at once it has the mailbox open: after it has shed what it
        # inherited, while it waits for the lock
        deadline = time.monotonic() + 10
        files: set[str] = set()
        while str(mbox) not in files and time.monotonic() < deadline:
            time.sleep(0.01)
            files = set().union(*(_open_files(c) for c in _children()))
        assert str(mbox) in files, "no delivery child with the mailbox open"
        (work / "nobody.lock").unlink()
        thread.join(10)
        os.close(fd)
        assert not errors
        assert str(claimed) not in files
        assert b"hi\n" in mbox.read_bytes()
        # what the child had open: the mailbox it was delivering to, the pipe to the parent
        assert {f for f in files if f.startswith(str(work))} == {str(mbox)}
        assert any(f.startswith("pipe:") for f in files)
    finally:
        shutil.rmtree(work, ignore_errors=True)
