"""The mail log: every line affix writes goes through this module (smtp-and-logs.md §4).

Line shape: `Mmm dd HH:MM:SS host syslog_name/program[pid]: [severity: ]text`. With a
maillog_file the date is `%b %d` (zero-padded), as Postfix's postlogd writes it. Each event has
its own function below, so that every line format lives in this one file.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from typing import TextIO


class MailLog:
    """A process-wide sink for mail log lines (file, stream and/or syslog)."""

    def __init__(self, syslog_name: str = "postfix", hostname: str | None = None,
                 stream: TextIO | None = None, path: str | None = None,
                 use_syslog: bool = False, facility: str = "mail"):
        self.syslog_name = syslog_name
        self.host = (hostname or socket.gethostname()).split(".")[0]
        self.stream = stream
        self.path = path
        self._file: TextIO | None = None
        self._lock = threading.Lock()
        self._syslog = None
        if use_syslog:
            import syslog

            syslog.openlog(syslog_name, 0, getattr(syslog, f"LOG_{facility.upper()}",
                                                   syslog.LOG_MAIL))
            self._syslog = syslog

    def reopen(self) -> None:
        """Re-open the log file (after rotation or reload)."""
        with self._lock:
            if self._file:
                self._file.close()
                self._file = None

    def write(self, program: str, text: str, severity: str | None = None,
              syslog_name: str | None = None) -> None:
        tag = f"{syslog_name or self.syslog_name}/{program}[{os.getpid()}]"
        body = f"{severity}: {text}" if severity else text
        stamp = time.strftime("%b %d %H:%M:%S")
        line = f"{stamp} {self.host} {tag}: {body}\n"
        with self._lock:
            if self.path:
                if self._file is None:
                    self._file = open(  # noqa: SIM115 - kept open for the process
                        self.path, "a", encoding="utf-8", errors="replace")
                self._file.write(line)
                self._file.flush()
            if self.stream is not None:
                self.stream.write(line)
                self.stream.flush()
        if self._syslog is not None:
            level = {"warning": self._syslog.LOG_WARNING, "error": self._syslog.LOG_ERR,
                     "fatal": self._syslog.LOG_CRIT}.get(severity or "", self._syslog.LOG_INFO)
            self._syslog.syslog(level, f"{tag}: {body}")


_current = MailLog(stream=sys.stderr)


def set_log(log: MailLog) -> None:
    global _current
    _current = log


def get_log() -> MailLog:
    return _current


# --- generic ---------------------------------------------------------------------------------

def info(program: str, text: str, syslog_name: str | None = None) -> None:
    _current.write(program, text, None, syslog_name)


def warning(program: str, text: str, syslog_name: str | None = None) -> None:
    _current.write(program, text, "warning", syslog_name)


def error(program: str, text: str, syslog_name: str | None = None) -> None:
    _current.write(program, text, "error", syslog_name)


def fatal(program: str, text: str, syslog_name: str | None = None) -> None:
    _current.write(program, text, "fatal", syslog_name)


# --- master (lifecycle) ---------------------------------------------------------------------

def daemon_started(version: str, config_dir: str) -> None:
    info("master", f"daemon started -- version {version}, configuration {config_dir}")


def reloading(version: str, config_dir: str) -> None:
    info("master", f"reload -- version {version}, configuration {config_dir}")


def terminating() -> None:
    info("master", "terminating on signal 15")
