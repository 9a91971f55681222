"""Writing one message into an mbox file or a Maildir (cleanup-and-delivery.md §3).

These functions do the file work only; local.py decides where and as whom. Every path is opened
without following symbolic links (O_NOFOLLOW / O_EXCL, directory-relative for Maildir), so a
user who controls a directory cannot point a delivery made with more privileges elsewhere.
mailbox_size_limit is enforced as Postfix's RLIMIT_FSIZE would: a write that would make the
file larger than the limit fails with EFBIG, and an mbox is truncated back to its old length.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import socket
import stat
import time
from dataclasses import dataclass

from affix.config.snapshot import Config

_MAILDIR_SUBDIRS = ("tmp", "new", "cur")
NOT_OWNED = "not owned by recipient"  # strerror of the strict_mailbox_ownership refusal


class LockError(Exception):
    """The mailbox lock could not be taken in deliver_lock_attempts tries."""


# What a failed file delivery means for the message, by errno (as local(8) and virtual(8)
# decide): try again later, the disk is full, this mailbox is full, or the caller's default --
# a bounce (5.2.0) when local cannot open an mbox or /file (a directory, no permission), a
# retry (4.2.0) for a Maildir and for everything virtual writes.
BOUNCE_BY_DEFAULT, RETRY_BY_DEFAULT = "5.2.0", "4.2.0"


def file_error_dsn(err: int | None, default: str) -> str:
    if err in (errno.EAGAIN, errno.ESTALE):
        return "4.2.0"
    if err == errno.ENOSPC:
        return "4.3.0"
    if err in (errno.EFBIG, errno.EDQUOT):
        return "5.2.2"  # cleanup-and-delivery.md §4: a bounce, not a deferral
    return default


def delivers_to_maildir(cfg: Config) -> bool:
    """local's mailbox is a Maildir when the path it uses ends in `/`: home_mailbox when set,
    else mail_spool_directory (cleanup-and-delivery.md §3)."""
    return (cfg.get("home_mailbox").strip() or cfg.get("mail_spool_directory")).endswith("/")


# --- the delivered bytes -----------------------------------------------------------------------

def delivery_headers(sender: str, orig_to: str | None, delivered_to: str | None) -> bytes:
    """Return-Path, X-Original-To (when known and enabled) and Delivered-To, in that order."""
    lines = [f"Return-Path: <{sender}>\n"]
    if orig_to:
        lines.append(f"X-Original-To: {orig_to}\n")
    if delivered_to:
        lines.append(f"Delivered-To: {delivered_to}\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


def from_line(sender: str, when: float | None = None) -> bytes:
    """`From SENDER  Www Mmm dd hh:mm:ss yyyy` (asctime, local time); <> is MAILER-DAEMON."""
    stamp = time.asctime(time.localtime(time.time() if when is None else when))
    return f"From {sender or 'MAILER-DAEMON'}  {stamp}\n".encode("utf-8", "surrogateescape")


def quote_from(content: bytes) -> bytes:
    """Prefix `>` to every line that starts exactly with `From ` (single-level quoting)."""
    if content.startswith(b"From "):
        content = b">" + content
    return content.replace(b"\nFrom ", b"\n>From ")


def mbox_record(sender: str, headers: bytes, content: bytes, when: float | None = None) -> bytes:
    body = quote_from(headers + content)
    if not body.endswith(b"\n"):
        body += b"\n"
    return from_line(sender, when) + body + b"\n"


# --- mbox ------------------------------------------------------------------------------------

def _dotlock(path: str, attempts: int, delay: float, stale: float) -> str:
    lock = path + ".lock"
    for attempt in range(max(1, attempts)):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            return lock
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                if time.time() - os.lstat(lock).st_mtime > stale:
                    os.unlink(lock)  # stale_lock_time: a crashed writer's lock
                    continue
        if attempt + 1 < attempts:
            time.sleep(delay)
    raise LockError("unable to create lock file " + lock + ": File exists")


def _fcntl_lock(fd: int, attempts: int, delay: float) -> None:
    for attempt in range(max(1, attempts)):
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except (BlockingIOError, PermissionError):
            if attempt + 1 < attempts:
                time.sleep(delay)
    raise LockError("unable to lock for exclusive access: Resource temporarily unavailable")


def open_mbox(path: str, owner: tuple[int, int] | None, strict_uid: int | None,
              devices: bool = False) -> int:
    """Open (creating mode 0600) for append; refuse links and foreign files, and devices
    unless `devices` allows a character device (an alias to /dev/null)."""
    # O_NONBLOCK: a FIFO with nobody reading would hold the delivery for ever
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                 | os.O_NONBLOCK, 0o600)
    st = os.fstat(fd)
    if devices and stat.S_ISCHR(st.st_mode) and st.st_nlink == 1:
        return fd
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        raise OSError(errno.EPERM, "file is not a regular file with one link", path)
    if st.st_size == 0 and owner is not None and (st.st_uid, st.st_gid) != owner:
        os.fchown(fd, *owner)
        st = os.fstat(fd)
    if strict_uid is not None and st.st_uid != strict_uid:
        os.close(fd)
        raise PermissionError(errno.EPERM, NOT_OWNED, path)
    return fd


def append_mbox(path: str, record: bytes, *, limit: int = 0, locks: tuple[str, ...] = (
        "fcntl", "dotlock"), attempts: int = 20, delay: float = 1.0, stale: float = 500.0,
                owner: tuple[int, int] | None = None, strict_uid: int | None = None,
                devices: bool = False, parents: bool = False) -> None:
    """Append one mbox record under the configured locks; on failure truncate back.
    `devices`: a character device may be the destination (written to as it is); `parents`:
    make missing parent directories (mode 0700, by whoever runs this)."""
    if parents:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = open_mbox(path, owner, strict_uid, devices)
    if devices and stat.S_ISCHR(os.fstat(fd).st_mode):  # nothing to lock or truncate
        try:
            _write_all(fd, record)
        finally:
            os.close(fd)
        return
    lock = None
    try:
        if "dotlock" in locks:
            lock = _dotlock(path, attempts, delay, stale)
        if "fcntl" in locks:
            _fcntl_lock(fd, attempts, delay)
        start = os.fstat(fd).st_size
        try:
            if limit and start + len(record) > limit:
                raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
            _write_all(fd, record)
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)  # also releases the fcntl lock
        if lock:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --- Maildir ---------------------------------------------------------------------------------

def _open_dir(parent_fd: int | None, name: str, owner: tuple[int, int] | None) -> int:
    """Open (creating mode 0700) a directory without following a symlink."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, dir_fd=parent_fd)
    except FileNotFoundError:
        try:
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        except FileExistsError:  # a concurrent delivery made it first
            return os.open(name, flags, dir_fd=parent_fd)
        fd = os.open(name, flags, dir_fd=parent_fd)
        if owner is not None:
            os.fchown(fd, *owner)
        return fd


def _open_maildir(path: str, owner: tuple[int, int] | None) -> dict[str, int]:
    """Open PATH/tmp and PATH/new, creating what is missing (PATH/cur too, and the parent);
    PATH itself is not followed if it is a symlink."""
    path = path.rstrip("/")
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:  # the usual case: a Maildir that exists, in three opens
        top = os.open(path, flags)
        fds = {"": top}
        try:
            for sub in ("tmp", "new"):
                fds[sub] = os.open(sub, flags, dir_fd=top)
        except BaseException:
            for fd in fds.values():
                os.close(fd)
            raise
        return fds
    except FileNotFoundError:
        return _make_maildir(path, owner)


def _make_maildir(path: str, owner: tuple[int, int] | None) -> dict[str, int]:
    parent, name = os.path.split(path)
    try:
        pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        os.makedirs(parent, mode=0o700, exist_ok=True)
        pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        top = _open_dir(pfd, name, owner)
    finally:
        os.close(pfd)
    fds = {"": top}
    try:
        for sub in _MAILDIR_SUBDIRS:
            fds[sub] = _open_dir(top, sub, owner)
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        raise
    os.close(fds.pop("cur"))
    return fds


@functools.cache
def _maildir_host() -> str:
    """The host name in Maildir file names (read once, as Postfix's local does)."""
    return socket.gethostname().replace("/", "\\057").replace(":", "\\072")


@dataclass
class MaildirFile:
    """A message written into a Maildir's tmp/ (start_maildir): not yet synced, not in new/."""

    path: str  # the Maildir, as given
    fds: dict[str, int]  # its directories: "" (the top), tmp, new
    tmp_name: str
    fd: int  # the file in tmp/
    now: float  # the delivery's time, in both names


def start_maildir(path: str, data: bytes, *, limit: int = 0,
                  owner: tuple[int, int] | None = None) -> MaildirFile:
    """The first half of a Maildir delivery: tmp/SECONDS.P<pid>.HOST, written (page cache
    only). The caller fsyncs its fd, then calls finish_maildir (or abort_maildir)."""
    host = _maildir_host()
    fds = _open_maildir(path, owner)
    try:
        now = time.time()
        tmp_name = f"{int(now)}.P{os.getpid()}.{time.monotonic_ns()}.{host}"
        fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600,
                     dir_fd=fds["tmp"])
    except BaseException:
        _close_all(fds)
        raise
    file = MaildirFile(path, fds, tmp_name, fd, now)
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        if limit and len(data) > limit:
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        _write_all(fd, data)
    except BaseException:
        abort_maildir(file)
        raise
    return file


def finish_maildir(file: MaildirFile, sync_new: bool = True) -> str:
    """The second half, once the file is fsynced: link it as new/SECONDS.V<dev>I<ino>M<usec>.HOST
    and fsync new/ (unless not `sync_new`: then the caller must, before it calls the delivery
    done). Returns the new name's path; the file's and directories' fds are closed."""
    fds, now = file.fds, file.now
    try:
        try:
            st = os.fstat(file.fd)
        except BaseException:
            _discard_tmp(file)
            raise
        os.close(file.fd)
        usec = int(now % 1 * 1e6)
        new_name = f"{int(now)}.V{st.st_dev:x}I{st.st_ino:x}M{usec}.{_maildir_host()}"
        os.link(file.tmp_name, new_name, src_dir_fd=fds["tmp"], dst_dir_fd=fds["new"],
                follow_symlinks=False)
        os.unlink(file.tmp_name, dir_fd=fds["tmp"])
        if sync_new:
            os.fsync(fds["new"])
        return os.path.join(file.path.rstrip("/"), "new", new_name)
    finally:
        _close_all(fds)


def abort_maildir(file: MaildirFile) -> None:
    """Give up a started delivery: the file in tmp/ goes, every fd is closed."""
    try:
        _discard_tmp(file)
    finally:
        _close_all(file.fds)


def _discard_tmp(file: MaildirFile) -> None:
    os.close(file.fd)
    os.unlink(file.tmp_name, dir_fd=file.fds["tmp"])


def _close_all(fds: dict[str, int]) -> None:
    for fd in fds.values():
        os.close(fd)


def deliver_maildir(path: str, data: bytes, *, limit: int = 0,
                    owner: tuple[int, int] | None = None) -> str:
    """A whole Maildir delivery: tmp/ -> fsync -> new/ -> fsync new/ (see finish_maildir)."""
    file = start_maildir(path, data, limit=limit, owner=owner)
    try:
        os.fsync(file.fd)
    except BaseException:
        abort_maildir(file)
        raise
    return finish_maildir(file)
