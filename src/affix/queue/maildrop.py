"""maildrop/: where users who may not write to the queue leave their mail for the server.

The queues are root's alone (mode 0700). Postfix lets other users in through a setgid program
(postdrop); a Python program cannot be setgid, so affix uses the layout Postfix had before
postdrop: a world-writable directory with the sticky bit (mode 1733). Anyone may create a file
there; nobody but root may list it, and nobody may remove or rename another user's file. The
owner of a file is who submitted it: the server's pickup (pickup.py) takes the user id from the
file's owner, never from its content, and trusts nothing in the content beyond what sendmail's
own options could have set.

A file is the same format as a queue file (qfile.py: envelope records, content, CRC), written
under a name starting with `.`, fsynced, then renamed: pickup skips dotted names and so never
reads half a message. A non-root writer cannot fsync maildrop/ itself (that needs read access
to the directory), so the rename is durable when the file system next commits it, as with
Postfix's postdrop.

public/pickup is a FIFO anyone may write to: a byte there tells a running server to look.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass

from affix.queue import qfile
from affix.queue.envelope import Envelope

MAILDROP = "maildrop"
PUBLIC = "public"
PICKUP_FIFO = "pickup"
MAILDROP_MODE = 0o1733  # -wx for all, sticky: create yes, list and remove others' no
PUBLIC_MODE = 0o755
FIFO_MODE = 0o622
STALE_SECONDS = 86400.0  # a dotted (unfinished) file this old was left by a writer that died


@dataclass
class Dropped:
    """A complete maildrop file, read by pickup."""

    name: str
    uid: int  # the file's owner: who submitted it
    arrival: float  # when it was submitted (or later), never in the future
    envelope: Envelope  # as the file says; pickup keeps only what a user may set
    content: bytes


class MaildropError(Exception):
    """A maildrop file that is not a message anyone should get (pickup moves it aside)."""


def ensure(root: str) -> None:
    """Create maildrop/ and public/pickup with their modes (the server does, as root).
    Users must be able to pass through the queue directory to reach them (its other
    directories stay root's), so it gets search permission if it lacks it."""
    mode = os.stat(root).st_mode
    if mode & 0o011 != 0o011:
        os.chmod(root, stat.S_IMODE(mode) | 0o011)
    drop_dir = os.path.join(root, MAILDROP)
    os.makedirs(drop_dir, exist_ok=True)
    os.chmod(drop_dir, MAILDROP_MODE)  # makedirs' mode is cut by the umask
    public = os.path.join(root, PUBLIC)
    os.makedirs(public, exist_ok=True)
    os.chmod(public, PUBLIC_MODE)
    fifo = os.path.join(public, PICKUP_FIFO)
    with contextlib.suppress(FileExistsError):
        os.mkfifo(fifo, FIFO_MODE)
    if not stat.S_ISFIFO(os.lstat(fifo).st_mode):
        raise OSError(errno.EEXIST, f"{fifo} exists and is not a FIFO")
    os.chmod(fifo, FIFO_MODE)


def drop(root: str, envelope: Envelope, content: bytes, size_limit: int) -> str:
    """Leave a message in maildrop/ (any user); returns the file's name. Raises OSError, or
    MaildropError for a message over size_limit (message_size_limit; 0: none), which pickup
    would refuse to read."""
    name = f"{time.time_ns():x}.{os.getpid()}.{secrets.token_hex(4)}"
    data = qfile.encode(name, envelope, content)
    if (size_limit and len(content) > size_limit) or too_big(len(data), size_limit):
        raise MaildropError("message file too big")
    directory = os.path.join(root, MAILDROP)
    temp = os.path.join(directory, "." + name)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, os.path.join(directory, name))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return name


def poke(root: str) -> bool:
    """Tell a running server's pickup to look now; False when nobody listens."""
    try:
        fd = os.open(os.path.join(root, PUBLIC, PICKUP_FIFO), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: no server has it open; ENOENT: no server ever made it
        return False
    try:
        os.write(fd, b"W")
    except OSError as e:  # EAGAIN: the FIFO is full of wake-ups already; that will do
        return e.errno == errno.EAGAIN
    finally:
        os.close(fd)
    return True


# what drop() names a file: time in ns (hex), pid, random (hex); anything else is not ours
_NAME = re.compile(r"[0-9a-f]{1,16}\.[0-9]{1,10}\.[0-9a-f]{8}")


def names(root: str) -> tuple[list[str], list[str]]:
    """(complete files waiting, oldest first; entries that drop() cannot have made, for
    pickup to remove). Unfinished files left by dead writers are removed here."""
    directory = os.path.join(root, MAILDROP)
    ready, strays = [], []
    now = time.time()
    with os.scandir(directory) as it:
        for entry in it:
            name = entry.name
            if _NAME.fullmatch(name):
                ready.append(name)
            elif name.startswith(".") and _NAME.fullmatch(name[1:]):
                with contextlib.suppress(OSError):  # a live writer's file is young
                    if now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                        os.unlink(entry.path)
            else:
                strays.append(name)
    return sorted(ready), strays


class Busy(Exception):
    """A file that cannot be read now (no file descriptors, an I/O error): try later."""


def read(root: str, name: str, size_limit: int) -> Dropped:
    """One file, checked: a plain file with one name, not over size_limit bytes (0: no
    limit) plus ENVELOPE_ROOM, in the queue file format. Raises MaildropError for a file that
    is not a message (or is gone: FileNotFoundError), Busy for one to try again later."""
    path = os.path.join(root, MAILDROP, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):  # a symlink, socket, dir
            raise MaildropError(f"cannot open: {e.strerror}") from None
        raise Busy(e.strerror or str(e)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            # a FIFO would block pickup; a second name could be another user's file
            raise MaildropError("not a plain file with one name")
        if too_big(st.st_size, size_limit):
            raise MaildropError(f"larger than sendmail writes for message_size_limit = "
                                f"{size_limit}")
        try:
            data = _read_upto(fd, st.st_size)
        except OSError as e:
            raise Busy(e.strerror or str(e)) from None
    finally:
        os.close(fd)
    try:
        msg = qfile.decode(name, data)
    except qfile.QueueFileError as e:
        raise MaildropError(str(e).removeprefix(f"{name}: ")) from None
    # the change time, which its owner cannot set back (utime() sets it to now): when it was
    # submitted, or later
    arrival = min(st.st_ctime, time.time())
    return Dropped(name, st.st_uid, arrival, msg.envelope, msg.content or b"")


ENVELOPE_ROOM = 1024 * 1024  # bytes of envelope records allowed beside the content


def too_big(file_size: int, size_limit: int) -> bool:
    """Whether a maildrop file is larger than sendmail writes (its content is checked
    against message_size_limit before it is dropped)."""
    return bool(size_limit) and file_size > size_limit + ENVELOPE_ROOM


def _read_upto(fd: int, size: int) -> bytes:
    """The file's first `size` bytes: its owner may still be appending, and what it appends
    after fstat() is not read (the CRC then fails)."""
    chunks = []
    while size > 0:
        chunk = os.read(fd, size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def remove(root: str, name: str) -> None:
    """Remove an entry, whatever it is (a user may have made a directory tree there):
    raises OSError only when it stays."""
    path = os.path.join(root, MAILDROP, name)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        import shutil  # only here: the server's footprint leaves it out otherwise

        shutil.rmtree(path)  # symlink-safe where the platform allows (Linux: it does)

