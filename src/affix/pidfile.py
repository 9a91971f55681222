"""The pid file: DATA_DIR/affix.pid, written and locked by the running server for as long as
it lives. The lock, not the number in the file, says whether a server runs: after a crash or
a power cut the file stays behind, and its number may by then belong to another process, so
nothing is ever signalled without the lock being held (`affix status`, `stop`, `flush`,
`sendmail` all ask running_pid)."""

from __future__ import annotations

import fcntl
import os

from affix.ascii import is_digits
from affix.config.snapshot import Config

PID_FILE = "affix.pid"


def pid_path(cfg: Config) -> str:
    return os.path.join(cfg.get("data_directory"), PID_FILE)


def running_pid(path: str) -> int | None:
    """The pid of the running server, or None; the server holds a lock on its pid file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode("ascii", "replace").strip()
            return int(text) if is_digits(text) else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class AlreadyRunning(Exception):
    def __init__(self, pid: int | None):
        super().__init__(f"the mail system is already running (pid {pid})")
        self.pid = pid


def acquire_pid_file(path: str) -> int:
    """Lock and fill in the pid file; the lock lives as long as the process."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(running_pid(path)) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
