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
        self._ident = ""
        if use_syslog:
            import syslog

            self._facility = getattr(syslog, f"LOG_{facility.upper()}", syslog.LOG_MAIL)
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
            self._to_syslog(f"{syslog_name or self.syslog_name}/{program}", body, severity)

    def _to_syslog(self, ident: str, body: str, severity: str | None) -> None:
        """syslogd adds the date, host and `IDENT[PID]:`, so the ident is NAME/PROGRAM."""
        sl = self._syslog
        level = {"warning": sl.LOG_WARNING, "error": sl.LOG_ERR,
                 "fatal": sl.LOG_CRIT}.get(severity or "", sl.LOG_INFO)
        with self._lock:
            if ident != self._ident:
                sl.openlog(ident, sl.LOG_PID, self._facility)
                self._ident = ident
            sl.syslog(level, body)


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


def terminating_on_signal(signum: int) -> None:
    info("master", f"terminating on signal {signum}")


def reload_refused(reason: str) -> None:
    """A reload whose new configuration has a problem: the running one stays in service."""
    warning("master", f"reload refused, keeping the running configuration: {reason}")


# --- smtpd ----------------------------------------------------------------------------------

def _envelope_fields(sender: str | None, recipient: str | None, protocol: str | None,
                     helo: str | None) -> str:
    """`from=<S> to=<R> proto=P helo=<H>`, each present only when known."""
    parts = []
    if sender is not None:
        parts.append(f"from=<{sender}>")
    if recipient is not None:
        parts.append(f"to=<{recipient}>")
    if protocol:
        parts.append(f"proto={protocol}")
    if helo is not None:
        parts.append(f"helo=<{helo}>")
    return " ".join(parts)


def connect(client: str, syslog_name: str | None = None) -> None:
    info("smtpd", f"connect from {client}", syslog_name)


def disconnect(client: str, stats: str, syslog_name: str | None = None) -> None:
    info("smtpd", f"disconnect from {client} {stats}", syslog_name)


def client_queued(queue_id: str, client: str, extra: str = "",
                  syslog_name: str | None = None) -> None:
    """`QID: client=NAME[ADDR]` when the queue file is opened (pflogsumm counts these)."""
    info("smtpd", f"{queue_id}: client={client}{extra}", syslog_name)


def smtpd_action(action: str, queue_id: str | None, stage: str, client: str, text: str,
                 sender: str | None = None, recipient: str | None = None,
                 protocol: str | None = None, helo: str | None = None,
                 syslog_name: str | None = None) -> None:
    """`QID: ACTION: STAGE from NAME[ADDR]: TEXT; from=<S> to=<R> proto=P helo=<H>`.

    ACTION is reject, reject_warning, warn, info, hold, discard, filter, redirect, bcc or permit
    (restrictions.md §3); fail2ban and pflogsumm parse these lines.
    """
    fields = _envelope_fields(sender, recipient, protocol, helo)
    info("smtpd", f"{queue_id or 'NOQUEUE'}: {action}: {stage} from {client}: {text}; {fields}",
         syslog_name)


def lost_connection(stage: str, client: str, syslog_name: str | None = None) -> None:
    info("smtpd", f"lost connection after {stage} from {client}", syslog_name)


def timeout(stage: str, client: str, syslog_name: str | None = None) -> None:
    info("smtpd", f"timeout after {stage} from {client}", syslog_name)


def too_many_errors(stage: str, client: str, syslog_name: str | None = None) -> None:
    info("smtpd", f"too many errors after {stage} from {client}", syslog_name)


def improper_pipelining(stage: str, client: str, data: str,
                        syslog_name: str | None = None) -> None:
    info("smtpd", f"improper command pipelining after {stage} from {client}: {data}",
         syslog_name)
