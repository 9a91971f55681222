"""header_checks, mime_header_checks, nested_header_checks and body_checks
(cleanup-and-delivery.md §1).

cleanup calls inspect() after counting hops (Postfix 3.0+: IGNOREd Received headers still
count) and before adding missing headers (added headers are not checked). Each logical header
and each body line is looked up in the table list of its class (mime.py decides the class);
the first table with a result decides, and the action may edit the message in place (IGNORE,
STRIP, PREPEND, REPLACE) or set a flag in the CheckResult the service acts on. The message is
never re-encoded: untouched bytes stay exactly as received.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from affix import log
from affix.cleanup import replies
from affix.cleanup.headers import Message, is_header, name_of
from affix.cleanup.mime import BODY, MIME, NESTED, has_structure, is_mime_header, walk
from affix.config.snapshot import Config, split_list
from affix.queue.envelope import Envelope
from affix.reply import Reply
from affix.tables import bounded
from affix.tables.base import Table, TableError
from affix.tables.cache import TableCache

HEADER_CHECKS, MIME_CHECKS = "header_checks", "mime_header_checks"
NESTED_CHECKS, BODY_CHECKS = "nested_header_checks", "body_checks"
_PARAM = {MIME: MIME_CHECKS, NESTED: NESTED_CHECKS, BODY: BODY_CHECKS}
_DSN = re.compile(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}(?=\s|$)")
_ENC, _ERR = "utf-8", "surrogateescape"
_ACTION_SPLIT = re.compile(r"([^ \t]*)[ \t]*(.*)\Z", re.S)  # ACTION [optional text]


@dataclass
class CheckResult:
    reject: Reply | None = None  # REJECT (5.7.1 ...) or a 4xx on a table lookup error
    hold: str | None = None  # HOLD reason: the message goes to the hold queue
    discard: str | None = None  # DISCARD: accept, then drop every recipient
    redirect: str | None = None  # REDIRECT: replaces all recipients (the last one wins)
    filter: str | None = None  # FILTER transport:destination
    bcc: list[str] = field(default_factory=list)  # BCC recipients (NOTIFY=NONE)


class _LookupProblem(Exception):
    def __init__(self, param: str):
        super().__init__(param)
        self.param = param


class ContentChecks:
    """The four check tables of one config snapshot."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.tables = TableCache(cfg, program="cleanup")  # its own: logged as cleanup's
        self.enabled = "no_header_body_checks" not in cfg.list("receive_override_options")
        self.specs = {p: split_list(cfg.get(p))
                      for p in (HEADER_CHECKS, MIME_CHECKS, NESTED_CHECKS, BODY_CHECKS)}
        self._all_specs = list(dict.fromkeys(s for specs in self.specs.values() for s in specs))
        self._lock = threading.Lock()  # cleanup may run in worker threads (submit_sync)

    def wanted(self) -> bool:
        return self.enabled and any(self.specs.values())

    @functools.cached_property
    def limits(self) -> _Limits:
        """Read at the first message checked, then kept: a bad value fails the messages (each
        is refused with a 4xx until it reads), not cleanup's start."""
        cfg = self.cfg
        return _Limits(cfg.size("header_size_limit"), cfg.size("body_checks_size_limit"),
                       cfg.int("line_length_limit"), cfg.int("mime_nesting_limit"),
                       not cfg.bool("disable_mime_input_processing"))

    def inspect(self, queue_id: str, envelope: Envelope, msg: Message,
                origin: str = "smtp") -> CheckResult:
        """May edit msg.headers/msg.body in place (IGNORE, STRIP, PREPEND, REPLACE)."""
        if not self.wanted():
            return CheckResult()
        with self._lock:
            # each table once per message (mime_ and nested_header_checks are usually the
            # header_checks table): TableCache.get also checks the file for changes
            opened = {s: self.tables.get(s) for s in self._all_specs}
            maps = {p: [opened[s] for s in specs] for p, specs in self.specs.items()}
            run = _Inspection(self.limits, queue_id, envelope, origin, maps)
            try:
                with bounded.budget():  # one message's lines share the patterns' time
                    run.message(msg)
            except _LookupProblem as e:
                log.cleanup_map_lookup_problem(queue_id, e.param)
                return CheckResult(reject=replies.LOOKUP_ERROR)
            return run.result


class _Limits(NamedTuple):
    """The config's limits for the checks."""

    header: int  # header_size_limit
    body: int  # body_checks_size_limit
    chunk: int  # line_length_limit
    nesting: int  # mime_nesting_limit
    mime: bool  # not disable_mime_input_processing


@dataclass(frozen=True)
class _LogContext:
    """What every action log line says about the message's origin."""

    origin: str
    sender: str
    recipient: str | None
    protocol: str | None
    helo: str | None

    @classmethod
    def of(cls, envelope: Envelope, origin: str) -> _LogContext:
        rcpt = envelope.recipients[0].address if len(envelope.recipients) == 1 else None
        # origin: service.SMTP, LOCAL, REQUEUE or INTERNAL (not imported: service imports us)
        if origin == "smtp" or (origin == "requeue" and envelope.client_addr):
            name = envelope.client_name or "unknown"
            return cls(f"{name}[{envelope.client_addr}]", envelope.sender, rcpt,
                       envelope.protocol or None, envelope.helo or None)
        return cls("local", envelope.sender, rcpt, None, None)


class _Match(NamedTuple):  # a line that a table has a value for
    context: str  # "header" or "body"
    param: str  # the parameter whose table matched (named in warnings)
    line: str  # the lookup key: the header or body line without its line end
    data: bytes  # the bytes the match covers
    ending: bytes  # the line end in data ("" for a chunk in the middle of a long line)


class _Inspection:
    """One message's pass through the checks."""

    def __init__(self, limits: _Limits, queue_id: str, envelope: Envelope, origin: str,
                 maps: dict[str, list[Table]]):
        self.queue_id = queue_id
        self.envelope, self.origin = envelope, origin  # for the action log lines
        self.maps = maps
        self.result = CheckResult()
        self.active = True  # REJECT, DISCARD, REDIRECT and PASS end the inspection
        self.header_limit, self.body_limit, self.chunk, self.nesting, self.mime = limits

    def message(self, msg: Message) -> None:
        original = list(msg.headers)
        headers: list[bytes] = []
        for h in msg.headers:
            param = MIME_CHECKS if is_mime_header(name_of(h)) else HEADER_CHECKS
            headers += self.header(param, h)
        msg.headers = headers
        if not self.active or not (self.maps[MIME_CHECKS] or self.maps[NESTED_CHECKS]
                                   or self.maps[BODY_CHECKS]):
            return
        if not self.maps[BODY_CHECKS] and not has_structure(original, self.nesting, self.mime):
            return  # the body is text alone, and nothing checks body text
        out: list[bytes] = []
        # body text past body_checks_size_limit (all of it without body_checks) is not read
        skip = self.body_limit if self.maps[BODY_CHECKS] else 1
        for piece in walk(original, msg.body, self.chunk, self.nesting, self.mime, skip):
            if piece.kind == BODY:
                out += self.body(piece.data, piece.offset)
            else:
                out += self.header(_PARAM[piece.kind], piece.data)
        msg.body = b"".join(out)

    def header(self, param: str, data: bytes) -> list[bytes]:
        if not self.active or not self.maps[param]:
            return [data]
        raw = data[:-1] if data.endswith(b"\n") else data
        # header_size_limit: a longer header is looked up truncated
        key = raw[:self.header_limit].decode(_ENC, _ERR)
        value = self.lookup(param, key)
        if value is None:
            return [data]
        return self.act(_Match("header", param, key, data, data[len(raw):]), value)

    def body(self, data: bytes, offset: int) -> list[bytes]:
        if not self.active or not self.maps[BODY_CHECKS]:
            return [data]
        if self.body_limit and offset >= self.body_limit:
            return [data]  # only the first body_checks_size_limit bytes of each segment
        raw = data[:-1] if data.endswith(b"\n") else data
        if not raw:
            return [data]  # empty lines never match
        key = raw.decode(_ENC, _ERR)
        value = self.lookup(BODY_CHECKS, key)
        if value is None:
            return [data]
        return self.act(_Match("body", BODY_CHECKS, key, data, data[len(raw):]), value)

    def act(self, m: _Match, value: str) -> list[bytes]:
        """A table's `value` for the line: the action it names, on the message."""
        command, text = _ACTION_SPLIT.match(value).groups()  # type: ignore[union-attr]
        action = _ACTIONS.get(command.upper())
        if action is None:
            log.cleanup_unknown_command(m.param, value)
            return [m.data]
        return action(self, m, text)

    def lookup(self, param: str, key: str) -> str | None:
        try:
            for table in self.maps[param]:
                value = table.lookup(key)
                if value is not None:
                    return value
        except TableError as e:
            log.warning("cleanup", str(e))
            raise _LookupProblem(param) from e
        return None

    def log(self, action: str, m: _Match, text: str) -> None:
        w = _LogContext.of(self.envelope, self.origin)
        log.cleanup_content_action(self.queue_id, action, m.context, m.line, w.origin,
                                   w.sender, w.recipient, w.protocol, w.helo, text)

    # --- the actions (header_checks(5)) -------------------------------------------------------
    def keep(self, m: _Match, text: str) -> list[bytes]:  # DUNNO, OK: as if nothing matched
        return [m.data]

    def ignore(self, m: _Match, text: str) -> list[bytes]:  # deleted without a trace
        return []

    def strip(self, m: _Match, text: str) -> list[bytes]:
        self.log("strip", m, text)
        return []

    def warn(self, m: _Match, text: str) -> list[bytes]:
        self.log("warning", m, text)
        return [m.data]

    def info(self, m: _Match, text: str) -> list[bytes]:
        self.log("info", m, text)
        return [m.data]

    def reject(self, m: _Match, text: str) -> list[bytes]:
        reason = _reject_reason(text)
        self.log("reject", m, reason)
        self.result.reject = replies.content_rejected(reason)
        self.active = False
        return [m.data]

    def discard(self, m: _Match, text: str) -> list[bytes]:
        self.log("discard", m, text)
        self.result.discard = text or "DISCARD"
        self.active = False
        return [m.data]

    def hold(self, m: _Match, text: str) -> list[bytes]:
        if not self.result.hold:  # Postfix logs only the first HOLD
            self.log("hold", m, text)
            self.result.hold = text or "HOLD"
        return [m.data]

    def redirect(self, m: _Match, text: str) -> list[bytes]:
        if "@" not in text:
            log.cleanup_action_needs("REDIRECT", text, m.param, "user@domain")
            return [m.data]
        self.log("redirect", m, text)
        self.result.redirect = text
        self.active = False  # as Postfix: no further inspection after a REDIRECT
        return [m.data]

    def filter(self, m: _Match, text: str) -> list[bytes]:
        if ":" not in text:
            log.cleanup_action_needs("FILTER", text, m.param, "transport:destination")
            return [m.data]
        self.log("filter", m, text)
        self.result.filter = text
        return [m.data]

    def bcc(self, m: _Match, text: str) -> list[bytes]:
        if "@" not in text:
            log.cleanup_action_needs("BCC", text, m.param, "user@domain")
            return [m.data]
        self.log("bcc", m, text)
        self.result.bcc.append(text)
        return [m.data]

    def prepend(self, m: _Match, text: str) -> list[bytes]:
        new = self.new_line("PREPEND", m, text)
        if new is None:
            return [m.data]
        self.log("prepend", m, text)
        return [new + b"\n", m.data]  # the inserted line is not inspected

    def replace(self, m: _Match, text: str) -> list[bytes]:
        new = self.new_line("REPLACE", m, text)
        if new is None:
            return [m.data]
        self.log("replace", m, text)
        return [new + m.ending]

    def new_line(self, action: str, m: _Match, text: str) -> bytes | None:
        new = text.encode(_ENC, _ERR)
        if not new or (m.context == "header" and not is_header(new)):
            log.cleanup_action_needs(action, text, m.param,
                                     '"headername: headervalue"' if m.context == "header"
                                     else "text")
            return None
        return new

    def pass_(self, m: _Match, text: str) -> list[bytes]:
        self.log("pass", m, text)
        self.active = False  # no more header or body checks for this message
        return [m.data]


_ACTIONS: dict[str, Callable[[_Inspection, _Match, str], list[bytes]]] = {
    "DUNNO": _Inspection.keep, "OK": _Inspection.keep, "IGNORE": _Inspection.ignore,
    "STRIP": _Inspection.strip, "WARN": _Inspection.warn, "INFO": _Inspection.info,
    "REJECT": _Inspection.reject, "DISCARD": _Inspection.discard, "HOLD": _Inspection.hold,
    "REDIRECT": _Inspection.redirect, "FILTER": _Inspection.filter, "BCC": _Inspection.bcc,
    "PREPEND": _Inspection.prepend, "REPLACE": _Inspection.replace, "PASS": _Inspection.pass_,
}


def _reject_reason(text: str) -> str:
    """`D.S.N text`: the default, 5.7.1 prepended to a text without a DSN, and a 2.x.x
    DSN made temporary (Postfix: only 4.x.x and 5.x.x make sense for a reject)."""
    if not text:
        return replies.CONTENT_REJECTED
    if not _DSN.match(text):
        return f"5.7.1 {text}"
    if text[0] == "2":
        log.cleanup_bad_reject_dsn(text)
        return "4" + text[1:]
    return text
