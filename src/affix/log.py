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

from affix.ascii import printable


class MailLog:
    """A process-wide sink for mail log lines (file, stream and/or syslog)."""

    def __init__(self, syslog_name: str = "postfix", hostname: str | None = None,
                 stream: TextIO | None = None, path: str | None = None,
                 use_syslog: bool = False, facility: str = "mail"):
        self.syslog_name = syslog_name
        self.host = (hostname or socket.gethostname()).split(".")[0]
        self.stream = stream
        self.path = path
        self._fd = -1  # the log file, opened O_APPEND: one write(2) per line
        self._stamp = (-1, "")  # (second, its date text): strftime once per second
        self._lock = threading.Lock()
        self._syslog = None
        self._ident = ""
        if use_syslog:
            import syslog

            self._facility = getattr(syslog, f"LOG_{facility.upper()}", syslog.LOG_MAIL)
            self._syslog = syslog

    def _date(self) -> str:
        now = int(time.time())
        if self._stamp[0] != now:
            self._stamp = (now, time.strftime("%b %d %H:%M:%S", time.localtime(now)))
        return self._stamp[1]

    def write(self, program: str, text: str, severity: str | None = None,
              syslog_name: str | None = None) -> None:
        tag = f"{syslog_name or self.syslog_name}/{program}[{_pid}]"
        # what clients send ends up in lines (addresses, HELO, DSN parameters): a CR or an
        # escape sequence must not split an event or reach the terminal of whoever reads it
        body = printable(f"{severity}: {text}" if severity else text)
        line = f"{self._date()} {self.host} {tag}: {body}\n"
        with self._lock:
            if self.path:
                if self._fd < 0:
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                                       | os.O_CLOEXEC, 0o644)
                data = line.encode("utf-8", "replace")
                while data:  # a short write (a full disk) must not lose the rest silently
                    data = data[os.write(self._fd, data):]
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
_pid = os.getpid()  # a system call per line otherwise; `affix start` forks, hence the hook


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


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


def etrn_refused(argument: str, client: str, syslog_name: str | None = None) -> None:
    """ETRN for a domain the flush service does not serve (the 459 reply)."""
    warning("smtpd", f"reject: ETRN {argument[:100]}... from {client}", syslog_name)


def too_many_errors(stage: str, client: str, syslog_name: str | None = None) -> None:
    info("smtpd", f"too many errors after {stage} from {client}", syslog_name)


def improper_pipelining(stage: str, client: str, data: str,
                        syslog_name: str | None = None) -> None:
    info("smtpd", f"improper command pipelining after {stage} from {client}: {data}",
         syslog_name)


# --- cleanup --------------------------------------------------------------------------------

def cleanup_message_id(queue_id: str, value: str, resent: bool = False) -> None:
    """`QID: message-id=<...>` (or `resent-message-id=`), the header value as received."""
    name = "resent-message-id" if resent else "message-id"
    info("cleanup", f"{queue_id}: {name}={value}")


def cleanup_hopcount_exceeded(queue_id: str) -> None:
    warning("cleanup", f"{queue_id}: message rejected: hopcount exceeded")


def cleanup_size_exceeded(queue_id: str) -> None:
    warning("cleanup", f"{queue_id}: queue file size limit exceeded")


def cleanup_write_error(queue_id: str, reason: str) -> None:
    warning("cleanup", f"{queue_id}: queue file write error: {reason}")


# header_checks, mime_header_checks, nested_header_checks, body_checks
# (cleanup-and-delivery.md §1)

def _one_line(text: str) -> str:
    """Control characters (a folded header's newline and tab) as `#012`/`#011`, the way
    rsyslog writes them, so that every event stays one line of the log."""
    if text.isprintable():
        return text
    return "".join(f"#{ord(c):03o}" if ord(c) < 32 or ord(c) == 127 else c for c in text)


def cleanup_content_action(queue_id: str, action: str, context: str, line: str, origin: str,
                           sender: str, recipient: str | None, protocol: str | None,
                           helo: str | None, text: str) -> None:
    """`QID: ACTION: CONTEXT LINE from ORIGIN; from=<S> to=<R> proto=P helo=<H>: TEXT`.

    CONTEXT is header or body; LINE is cut at 200 characters; `: TEXT` only with a text.
    """
    fields = _envelope_fields(sender, recipient, protocol, helo)
    tail = f": {text}" if text else ""
    info("cleanup", f"{queue_id}: {action}: {context} {_one_line(line[:200])} from {origin}; "
                    f"{fields}{tail}")


def cleanup_map_lookup_problem(queue_id: str, table: str) -> None:
    warning("cleanup", f"{queue_id}: {table} map lookup problem -- message not accepted, "
                       "try again later")


def cleanup_unknown_command(table: str, value: str) -> None:
    warning("cleanup", f"unknown command in {table} map: {value}")


def cleanup_action_needs(action: str, argument: str, table: str, need: str) -> None:
    """An action whose argument is missing or malformed is ignored, with this warning."""
    shown = f'"{argument}"' if argument else "(nothing)"
    warning("cleanup", f"bad {action} argument {shown} in {table} map -- need {need}")


def cleanup_bad_reject_dsn(text: str) -> None:
    warning("cleanup", f"bad DSN action in {text} -- need 4.x.x or 5.x.x")


def pickup_received(queue_id: str, uid: int, sender: str) -> None:
    """`QID: uid=UID from=<S>` for a local (sendmail) submission."""
    info("pickup", f"{queue_id}: uid={uid} from=<{sender}>")


# --- qmgr -----------------------------------------------------------------------------------

def format_delay(seconds: float, resolution: int = 2) -> str:
    """smtp-and-logs.md §4: two significant digits, at most `resolution` decimals, whole
    seconds from 10 s up, trailing zeros dropped (0.0123 -> 0.01, 1.234 -> 1.2, 123.6 -> 124)."""
    if seconds < 0:
        seconds = 0.0
    if seconds >= 10:
        return str(int(seconds + 0.5))
    decimals = 1
    threshold = 1.0
    while seconds < threshold and decimals < resolution:
        decimals += 1
        threshold /= 10
    text = f"{seconds:.{min(decimals, resolution)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if float(text) >= 10:  # 9.96 rounded up to 10.0
        text = "10"
    return text or "0"


def qmgr_active(queue_id: str, sender: str, size: int, nrcpt: int) -> None:
    info("qmgr", f"{queue_id}: from=<{sender}>, size={size}, nrcpt={nrcpt} (queue active)")


def qmgr_removed(queue_id: str) -> None:
    info("qmgr", f"{queue_id}: removed")


def qmgr_expired(queue_id: str, sender: str, forced: bool = False) -> None:
    status = "force-expired" if forced else "expired"
    info("qmgr", f"{queue_id}: from=<{sender}>, status={status}, returned to sender")


def qmgr_warning(text: str) -> None:
    warning("qmgr", text)


# --- delivery agents (local, virtual, smtp, error) ---------------------------------------------

def delivery_status(program: str, queue_id: str, to: str, orig_to: str, relay: str,
                    delay: float, delays: tuple[float, float, float, float], dsn: str,
                    status: str, text: str, resolution: int = 2) -> None:
    """`QID: to=<R>, [orig_to=<O>, ]relay=X, delay=D, delays=A/B/C/E, dsn=X.Y.Z, status=S (T)`.

    pflogsumm depends on this exact field order (smtp-and-logs.md §5). orig_to only when it
    differs from to, ignoring case.
    """
    orig = f"orig_to=<{orig_to}>, " if orig_to and orig_to.lower() != to.lower() else ""
    d = "/".join(format_delay(x, resolution) for x in delays)
    info(program, f"{queue_id}: to=<{to}>, {orig}relay={relay}, "
                  f"delay={format_delay(delay, resolution)}, delays={d}, dsn={dsn}, "
                  f"status={status} ({text})")


# --- bounce ---------------------------------------------------------------------------------

def bounce_notice(queue_id: str, kind: str, new_queue_id: str) -> None:
    """kind: `non-delivery`, `delay` or `delivery status`."""
    info("bounce", f"{queue_id}: sender {kind} notification: {new_queue_id}")


def bounce_discarded(queue_id: str, sender: str) -> None:
    """A failed notice to the null sender (a double bounce) is dropped, with this trace."""
    info("bounce", f"{queue_id}: discarding undeliverable notice: from=<{sender}>")


# --- postsuper (queue tools) -----------------------------------------------------------------

def postsuper_event(queue_id: str, event: str) -> None:
    """`QID: removed`, `QID: placed on hold`, `QID: released from hold`, `QID: requeued`."""
    info("postsuper", f"{queue_id}: {event}")


def postsuper_summary(text: str) -> None:
    info("postsuper", text)


# --- smtpd protocol events (area smtpd) -----------------------------------------------------

def request_too_long(client: str, limit: int, head: str, syslog_name: str | None = None) -> None:
    """A command line over line_length_limit: its first 30 characters, then `...`."""
    warning("smtpd", f"{client}: request longer than {limit}: {head[:30]}...", syslog_name)


def non_smtp_command(client: str, line: str, syslog_name: str | None = None) -> None:
    warning("smtpd", f"non-SMTP command from {client}: {line}", syslog_name)


def unknown_notify(item: str, value: str, syslog_name: str | None = None) -> None:
    warning("smtpd", f'unknown DSN NOTIFY command value "{item}" in "{value}"', syslog_name)


def malformed_bdat(queue_id: str | None, client: str, line: str,
                   syslog_name: str | None = None) -> None:
    warning("smtpd", f"{queue_id or 'NOQUEUE'}: malformed BDAT command syntax from {client}: "
                     f"{line}", syslog_name)


def bdat_too_big(queue_id: str | None, client: str, syslog_name: str | None = None) -> None:
    warning("smtpd", f"{queue_id or 'NOQUEUE'}: BDAT request from {client} exceeds message "
                     "size limit", syslog_name)


def illegal_address(client: str, verb: str, arg: str, syslog_name: str | None = None) -> None:
    warning("smtpd", f"Illegal address syntax from {client} in {verb} command: {arg}",
            syslog_name)


def ehlo_discarding(keywords: str, syslog_name: str | None = None) -> None:
    info("smtpd", f"discarding EHLO keywords: {keywords}", syslog_name)


def queue_file_too_big(queue_id: str, syslog_name: str | None = None) -> None:
    warning("smtpd", f"{queue_id}: queue file size limit exceeded", syslog_name)


def connection_limit_exceeded(count: int, client: str, service: str,
                              syslog_name: str | None = None) -> None:
    warning("smtpd", f"Connection concurrency limit exceeded: {count} from {client} for "
                     f"service {service}", syslog_name)


# --- crash recovery (area e2e) ---------------------------------------------------------------

def qmgr_resumed(queue_id: str) -> None:
    """A message found in the active queue at start: the previous server stopped (crashed)
    during its delivery. Delivery is at-least-once (design.md): a recipient delivered but not
    yet recorded in the queue file gets a second copy, and this line is what accounts for it."""
    warning("qmgr", f"{queue_id}: delivery was interrupted; recipients not recorded as done "
                    "are tried again and may receive a duplicate")
