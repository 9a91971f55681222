"""One SMTP session: an asyncio.Protocol reading commands from a byte buffer.

I/O model (for speed and small idle sessions): `data_received` appends to one bytearray and
`_pump` takes complete lines (or DATA content, or a BDAT chunk) from it. A verb handler is a
coroutine run eagerly (affix.smtpd.eager): it only becomes an asyncio Task when it really
waits, e.g. for the restriction engine or the queue. Replies to pipelined commands collect in
`_out` and are written in one batch once the input buffer holds no further complete command
(RFC 2920 3.1). One lazy timer per session enforces smtpd_timeout as a per-request deadline.

The verb handlers themselves live in affix.smtpd.verbs (the `Verbs` mixin).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from typing import TYPE_CHECKING, Any

from affix import log
from affix.policy.request import SessionState
from affix.reply import Reply
from affix.smtpd import eager, replies
from affix.smtpd.args import split_word
from affix.smtpd.content import ChunkReader, DataReader
from affix.smtpd.settings import SmtpdSettings
from affix.smtpd.stats import CommandStats
from affix.smtpd.verbs import COMMANDS, Command, Verbs, escape
from affix.tables.base import TableError
from affix.tables.matchlist import MatchList

if TYPE_CHECKING:
    from affix.smtpd.server import SessionContext, SmtpService

COMMAND, DATA, CHUNK, CLOSED = range(4)
_MAX_BUFFER = 1 << 20  # stop reading while a handler waits and this much input is queued
# RFC 2920 3.1 / restrictions.md §7: commands after which the client must wait, even in ESMTP.
_LAST_IN_GROUP = frozenset({"EHLO", "HELO", "DATA", "NOOP", "VRFY"})
_NON_SMTP = frozenset({"CONNECT", "GET", "POST"})


def _peer(transport: asyncio.BaseTransport) -> tuple[str, int]:
    peer = transport.get_extra_info("peername")
    if not peer or not isinstance(peer, tuple):
        return "unknown", 0
    addr, port = peer[0], peer[1]
    if ":" in addr:  # IPv6 (an IPv4 address is taken as it is)
        with contextlib.suppress(ValueError):
            mapped = ipaddress.ip_address(addr.split("%", 1)[0])
            if isinstance(mapped, ipaddress.IPv6Address) and mapped.ipv4_mapped:
                addr = str(mapped.ipv4_mapped)  # restrictions.md §5.4: treat as IPv4
    return addr, port


class SmtpSession(Verbs, asyncio.Protocol):
    __slots__ = (
        "ctx", "s", "service", "loop", "transport", "state", "cleanup", "buf", "out", "mode",
        "busy", "task", "timer", "deadline", "where", "errors", "junk", "stats", "txn",
        "after", "reader", "chunk_cmd", "skipping", "access_denied", "xclient_ok", "discard",
        "bare_mode", "write_paused", "error_exempt", "real_addr", "closing", "tarpitting",
        "paused", "concurrency", "eof",
    )

    def __init__(self, ctx: SessionContext, settings: SmtpdSettings,
                 service: SmtpService | None = None):
        self.ctx = ctx
        self.s = settings
        self.service = service
        self.cleanup = ctx.cleanup
        self.buf = bytearray()
        self.out: list[bytes] = []
        self.mode = COMMAND
        self.busy = True  # until the greeting is out
        self.task: asyncio.Task[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.where = "CONNECT"
        self.errors = self.junk = 0
        self.stats = CommandStats()
        self.txn = None
        self.after = None
        self.reader: DataReader | ChunkReader | None = None
        self.chunk_cmd: tuple[Command, str] | None = None
        self.skipping = self.access_denied = self.write_paused = self.error_exempt = False
        self.closing = self.tarpitting = self.paused = self.eof = False
        self.discard = settings.discard_keywords

    # --- connection ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.loop = asyncio.get_running_loop()
        if self.ctx.tables is not None:
            self.ctx.tables.recheck()  # a table rebuilt with `affix map` counts from now on
        addr, port = _peer(transport)
        self.real_addr = addr
        self.state = SessionState(client_addr=addr, client_port=port,
                                  syslog_name=self.s.syslog_name)
        local = transport.get_extra_info("sockname")
        if isinstance(local, tuple):
            self.state.server_addr, self.state.server_port = local[0], local[1]
        self.xclient_ok = False
        self.client_changed()
        self.concurrency = 1 if self.service is None else self.service.session_opened(self)
        self._arm()
        self._run(self.connect(), self._greet)
        if not self.busy:
            self._pump()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.mode == CLOSED:
            return
        if not self.closing and self.where != "END-OF-MESSAGE":
            log.lost_connection(self._where_detail(), self.state.client, self.s.syslog_name)
        self._shutdown()

    def _shutdown(self) -> None:
        # a DATA or BDAT whose content never ended counts as a failed command (data=0/1)
        interrupted = {DATA: "DATA", CHUNK: "BDAT"}.get(self.mode)
        if interrupted is not None:
            self.stats.count(COMMANDS[interrupted].stat, False)
        self.mode = CLOSED
        if self.timer is not None:
            self.timer.cancel()
        committing = self.where == "END-OF-MESSAGE"
        if self.task is not None and not self.task.done():
            if not committing:
                self.task.cancel()
            else:  # the message being written to the queue is left to finish: once on disk
                self.task = None  # it is delivered (the client may send it again: RFC 1047),
                self.txn = None  # and cleanup abandons it itself if the write fails
        self.abandon_transaction()
        log.disconnect(self.state.client, self.stats.summary(), self.s.syslog_name)
        if self.service is not None:
            self.service.session_closed(self)

    def _where_detail(self) -> str:
        if self.mode == DATA and isinstance(self.reader, DataReader):
            return f"DATA ({self.reader.raw_bytes + len(self.buf)} bytes)"
        if self.mode == CHUNK and isinstance(self.reader, ChunkReader):
            reader = self.reader
            read = reader.size - reader.remaining + min(len(self.buf), reader.remaining)
            return f"BDAT ({read} bytes)"
        return self.where

    def hangup(self) -> None:
        """Send what is queued and close (after QUIT, 421/521 replies, protocol violations)."""
        if self.mode == CLOSED or self.closing:
            return
        self.flush()
        self.closing = self.busy = True
        self.buf.clear()
        self.transport.close()  # connection_lost does the bookkeeping

    def client_changed(self) -> None:
        """Per-client settings, again after XCLIENT changed the client."""
        st = self.state
        # at the connection, and again for the client XCLIENT names: once it is one that may
        # not use XCLIENT, the command is no longer offered or taken (as in Postfix)
        if self.where == "CONNECT" or self.xclient_ok:
            self.xclient_ok = self._listed(self.s.xclient_hosts, st.client_name, st.client_addr)
        exempt = self._listed(self.s.bare_newline_exclusions, st.client_name, st.client_addr)
        self.bare_mode = "no" if exempt else self.s.bare_newline

    def _listed(self, matchlist: MatchList, name: str, addr: str) -> bool:
        """A client list lookup; a broken list means "not listed" (the stricter outcome)."""
        try:
            return matchlist.match_client(name, addr)
        except TableError as e:
            log.warning("smtpd", f"{matchlist.name}: {e}", self.s.syslog_name)
            return False

    def start_tls(self) -> None:
        """After `220 Ready to start TLS`: handshake, then start over (RFC 3207 4.2)."""
        self.flush()
        self.buf.clear()
        self.busy = True
        coro = self.loop.start_tls(self.transport, self, self.s.tls_context, server_side=True,
                                   ssl_handshake_timeout=self.s.timeout)
        task = self.loop.create_task(coro)
        self.task = task
        task.add_done_callback(self._tls_ready)

    def _tls_ready(self, task: asyncio.Task[Any]) -> None:
        self.task = None
        if task.cancelled():
            return
        exc = task.exception()  # taken even when the client is gone: never left unretrieved
        if exc is not None:
            log.warning("smtpd", f"TLS handshake failed for {self.state.client}: "
                        f"{exc or type(exc).__name__}", self.s.syslog_name)
            if self.mode != CLOSED:
                self.transport.abort()
            return
        if self.mode == CLOSED or self.closing:
            return
        self.transport = task.result()
        st = self.state
        st.tls_active = True
        ssl_object = self.transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            cipher, version, bits = ssl_object.cipher() or ("", "", 0)
            st.tls_protocol, st.tls_cipher, st.tls_bits = version or "", cipher, bits or 0
        st.helo, st.protocol = None, "SMTP"  # RFC 3207 4.2: discard prior knowledge
        self.reset_transaction()
        self.busy = False
        self._arm()
        self._pump()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._pump()

    # --- input --------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.mode == CLOSED or self.closing:
            return
        self.buf += data
        s = self.s
        if self.mode != COMMAND and s.per_request_deadline and s.min_data_rate > 0:
            self.deadline += len(data) / s.min_data_rate  # smtpd_min_data_rate
        elif not s.per_request_deadline:
            self.deadline = self.loop.time() + s.timeout
        if self.busy or self.write_paused:
            if len(self.buf) > _MAX_BUFFER and not self.paused:
                self.paused = True
                self.transport.pause_reading()
            return
        self._pump()

    def eof_received(self) -> bool | None:
        """The client closed its sending side. What it sent before still gets its replies
        (the 250 for a message it ended with `.`: without it the client would send the
        message again); the connection closes once that input is used up (_pump). Over
        TLS the transport closes at once, as asyncio's TLS transports cannot half-close."""
        if self.state.tls_active:
            return None  # connection_lost logs it
        self.eof = True
        if not self.busy and not self.write_paused:
            self._pump()
        return True

    def _pump(self) -> None:
        while not self.busy and not self.write_paused and self.mode != CLOSED:
            if self.mode == COMMAND:
                if self.errors >= self.s.hard_error_limit:
                    self._too_many_errors()
                    return
                line = self._next_line()
                if line is None:
                    break
                self._command(line)
            elif self.mode == DATA:
                if not self.reader.feed(self.buf):  # type: ignore[union-attr]
                    break
                self._end_of_data()
            elif not self._chunk():
                break
        if not self.busy and self.mode != CLOSED:
            self.flush()
            if self.eof and not self.closing and not self.write_paused:
                self.transport.close()  # input used up: connection_lost logs where it ended
            elif self.paused and len(self.buf) < _MAX_BUFFER:
                self.paused = False
                self.transport.resume_reading()

    def _next_line(self) -> bytes | None:
        """The next complete command line without its line end, or None."""
        buf, limit = self.buf, self.s.line_limit
        if self.skipping:
            i = buf.find(b"\n")
            if i < 0:
                buf.clear()
                return None
            del buf[:i + 1]
            self.skipping = False
        i = buf.find(b"\n")
        if i < 0 and len(buf) <= limit:
            return None
        if i < 0 or i > limit:
            line = bytes(buf[:limit])
            if i < 0:  # the whole buffer is part of this line; so is what comes next
                buf.clear()
                self.skipping = True
            else:
                del buf[:i + 1]
            self._too_long(line)
            return line.rstrip(b"\r")
        line = bytes(buf[:i])
        del buf[:i + 1]
        if line[-1:] == b"\r":
            return line[:-1]
        if self.bare_mode == "reject":
            self._bare_lf_command(line)
            return None
        return line

    def _too_long(self, line: bytes) -> None:
        head = line[:30].decode("utf-8", "replace")
        log.request_too_long(self.state.client, self.s.line_limit, escape(head),
                             self.s.syslog_name)

    def _bare_lf_command(self, line: bytes) -> None:
        """smtpd_forbid_bare_newline=reject: log, reply and hang up. The line is not read as a
        command: the log names the stage the session was at (the last command's), as
        Postfix's does."""
        reply = replies.bare_newline(self.s.bare_newline_code, self.s.hostname)
        self.log_reject(self.where, reply, text=replies.BARE_LF)
        self.send(reply, self.hangup)

    # --- commands -----------------------------------------------------------------------
    def _command(self, raw: bytes) -> None:
        text = self._decode(raw)
        if text is None:
            return
        verb, _, arg = text.partition(" ")
        if not verb.isalpha():  # a TAB or a bare CR may end the verb too (Postfix: any space)
            verb, arg = split_word(text)
        # ASCII only: str.upper() makes 'ſ' an S, and 'ſTARTTLS' is no STARTTLS to Postfix
        verb = verb.upper() if verb.isascii() else verb
        cmd = COMMANDS.get(verb)
        if cmd is None:
            self._unknown(verb, text)
            return
        if self._pipelining_violation(cmd):
            if cmd.stat:
                self.stats.count(cmd.stat, False)  # refused: Postfix counts it as failed
            return
        if cmd.stat and not (self.access_denied and cmd.name != "QUIT"):
            self.where = cmd.name  # a refused client's commands are not run: it stays CONNECT
        if cmd.junk:
            self.junk += 1
            if self.junk > self.s.junk_limit:
                self.errors += 1  # smtpd_junk_command_limit
        gate = self._gate(cmd)
        if gate is not None:
            self.finish_command(cmd, gate)
        elif cmd.name == "BDAT":
            self.bdat_begin(cmd, arg.strip())
        else:
            handler = getattr(self, cmd.name)
            self._run(handler(arg.strip()), lambda reply: self.finish_command(cmd, reply))

    def _decode(self, raw: bytes) -> str | None:
        """Command bytes to text; replies itself (500) for NUL, bad UTF-8 or an empty line."""
        reply = None
        if not raw.strip() or b"\0" in raw:
            reply = replies.BAD_SYNTAX
        elif raw.isascii():
            return raw.decode("ascii").strip()
        elif self.s.smtputf8:
            try:
                return raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                reply = replies.BAD_UTF8
        else:
            return raw.decode("utf-8", "surrogateescape").strip()
        self.send(reply)
        self.errors += 1
        return None

    def _unknown(self, verb: str, text: str) -> None:
        self.stats.count("unknown", False)
        self.where = "UNKNOWN"  # what the error limit and lost-connection lines name
        if self.access_denied:
            self.send(replies.access_denied(self.state.client))
            self.errors += 1
            return
        head = split_word(text)[0]
        first = text[:1]
        if (verb in _NON_SMTP or not (first.isascii() and first.isalpha())
                or (head.endswith(":") and len(head) > 1)):
            # the line as Postfix logs it: its first 100 bytes
            line = text.encode("utf-8", "surrogateescape")[:100]
            log.non_smtp_command(self.state.client, escape(line), self.s.syslog_name)
            self.send(replies.NON_SMTP, self.hangup)
            return
        self.send(replies.UNKNOWN_COMMAND)
        self.errors += 1

    def _pipelining_violation(self, cmd: Command) -> bool:
        """restrictions.md §7: input waiting after a command that must end a group."""
        if not self.buf or self.state.illegal_pipelining or cmd.name in ("STARTTLS", "QUIT"):
            return False
        if self.state.protocol == "ESMTP" and cmd.name not in _LAST_IN_GROUP:
            return False
        return self.improper_pipelining(cmd.name)

    def improper_pipelining(self, after: str) -> bool:
        """Flag and log; with smtpd_forbid_unauth_pipelining, reply 554 and hang up (True)."""
        self.state.illegal_pipelining = True
        log.improper_pipelining(after, self.state.client, escape(bytes(self.buf[:1000])),
                                self.s.syslog_name)
        if not self.s.forbid_unauth_pipelining:
            return False
        self.send(replies.PIPELINING_SYNC, self.hangup)
        return True

    def _gate(self, cmd: Command) -> Reply | None:
        """Session-wide refusals before the verb runs: access denied, TLS required."""
        if self.access_denied and cmd.name != "QUIT":
            return replies.access_denied(self.state.client)
        if (self.s.tls_level == "encrypt" and not self.state.tls_active
                and not cmd.before_tls):
            return replies.TLS_REQUIRED
        return None

    def finish_command(self, cmd: Command, reply: Reply) -> None:
        """Account for a command's result and send its reply (and what follows it)."""
        # a free overshoot RCPT (error_exempt) counts as done in the statistics too, as
        # Postfix's rcpt command reports it a success
        ok = reply.code < 400 or self.error_exempt
        if cmd.stat and reply.code != 354:  # DATA counts once, at the end of data
            self.stats.count(cmd.stat, ok)
        error = not ok
        self.error_exempt = False
        after, self.after = self.after, None
        if reply.hangs_up or cmd.name == "QUIT":
            after = self.hangup
        self.send(reply, after)
        if error:  # after the reply: only replies after the soft limit's error are delayed
            self.errors += 1

    def _too_many_errors(self) -> None:
        log.too_many_errors(self.where, self.state.client, self.s.syslog_name)
        self.send(replies.too_many_errors(self.s.hostname), self.hangup)

    # --- DATA and BDAT content ----------------------------------------------------------
    def enter_data(self) -> None:
        self.mode = DATA
        self.reader = DataReader(self.bare_mode != "no", self.s.size_limit)

    def _end_of_data(self) -> None:
        reader = self.reader
        assert isinstance(reader, DataReader)
        self.mode, self.reader = COMMAND, None
        cmd = COMMANDS["DATA"]
        self._run(self.end_of_data(reader), lambda reply: self.finish_command(cmd, reply))

    def enter_chunk(self, cmd: Command, arg: str, size: int, keep: bool) -> None:
        self.mode = CHUNK
        self.reader = ChunkReader(size, keep)
        self.chunk_cmd = (cmd, arg)

    def _chunk(self) -> bool:
        """Read BDAT bytes; once the chunk is complete, run the BDAT handler (True)."""
        reader = self.reader
        assert isinstance(reader, ChunkReader)
        if reader.remaining and not self.buf:
            return False
        data = reader.take(self.buf)
        if reader.keep:
            self.chunk_received(data)
        if reader.remaining:
            return False
        assert self.chunk_cmd is not None
        cmd, arg = self.chunk_cmd
        self.mode, self.reader, self.chunk_cmd = COMMAND, None, None
        self._run(self.BDAT(arg), lambda reply: self.finish_command(cmd, reply))
        return True

    # --- running handlers ---------------------------------------------------------------
    def _run(self, coro: Any, then: Any) -> None:
        """Run a handler coroutine; `then(result)` now, or when its Task finishes."""
        self.busy = True
        try:
            finished, value = eager.start(coro)
        except Exception as exc:  # a bug: never let it take the server down
            self._internal_error(exc)
            return
        if finished:
            self.busy = False
            then(value)
            return
        self.task = value
        self.flush()
        value.add_done_callback(lambda task: self._task_done(task, then))

    def _task_done(self, task: asyncio.Task[Any], then: Any) -> None:
        self.task = None
        if self.mode == CLOSED or self.closing or task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._internal_error(exc)
            return
        self.busy = False
        then(task.result())
        self._pump()

    def _internal_error(self, exc: BaseException) -> None:
        log.error("smtpd", f"{self.state.client}: internal error: {exc!r}", self.s.syslog_name)
        self.send(replies.local_error(self.s.hostname), self.hangup)

    def _greet(self, reply: Reply) -> None:
        """After the connect stage: pre-greeting input check, then the greeting (§1.2)."""
        if self.buf and self.improper_pipelining("CONNECT"):
            return
        self.busy = False
        self.send(reply, self.hangup if reply.hangs_up else None)

    # --- output -------------------------------------------------------------------------
    def send(self, reply: Reply, then: Any = None) -> None:
        """Queue a reply, then run `then` (hang up, enter DATA, start TLS...)."""
        if self.errors >= self.s.soft_error_limit and self.s.error_sleep > 0:
            self._tarpit(reply, then)
            return
        self.out.append(reply.wire())
        self._arm()  # the client's time for its next request starts with this reply
        if then is not None:
            then()

    def _tarpit(self, reply: Reply, then: Any) -> None:
        """smtpd_error_sleep_time: delay every reply once the soft error limit is reached."""
        self.flush()
        self.busy = self.tarpitting = True

        def release() -> None:
            self.tarpitting = False
            if self.mode == CLOSED:
                return
            self.out.append(reply.wire())
            self._arm()
            self.busy = False
            if then is not None:
                then()
            self._pump()

        self.loop.call_later(self.s.error_sleep, release)

    def flush(self) -> None:
        if self.out:
            data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
            self.out.clear()
            self.transport.write(data)

    # --- timeouts -----------------------------------------------------------------------
    def _arm(self) -> None:
        """Start the deadline for the next request (smtpd_timeout)."""
        self.deadline = self.loop.time() + self.s.timeout
        if self.timer is None:
            self.timer = self.loop.call_at(self.deadline, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        if self.mode == CLOSED or self.closing:
            return
        now = self.loop.time()
        if self.busy and (self.task is not None or self.tarpitting):
            # our own waits (a check in progress, the error tarpit) do not count
            self.deadline = max(self.deadline, now + self.s.timeout)
        if now < self.deadline:
            self.timer = self.loop.call_at(self.deadline, self._on_timer)
            return
        log.timeout(self._where_detail(), self.state.client, self.s.syslog_name)
        self.out.clear()
        self.out.append(replies.timeout(self.s.hostname).wire())
        self.hangup()
