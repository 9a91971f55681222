"""The SMTP verbs: one coroutine method per command, named after it, returning its Reply.

Checks and replies follow Postfix 3.7 (smtp-and-logs.md §1-2); where the restriction engine
is consulted follows smtpd_delay_reject (restrictions.md §1). The I/O around these methods
(buffering, pipelining, timeouts, error limits) is in affix.smtpd.session.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from affix import log
from affix.ascii import is_digits, printable
from affix.config.snapshot import split_list
from affix.dns.names import valid_address_literal, valid_hostname
from affix.policy.request import NameStatus, Stage, Verdict
from affix.queue.envelope import Envelope, Recipient
from affix.reply import Reply
from affix.smtpd import replies
from affix.smtpd.args import (
    ArgError,
    address_token,
    check_address,
    parse_notify,
    parse_orcpt,
    parse_path,
    parse_size,
    printable_xtext,
    split_param,
    unknown_notify_word,
)
from affix.smtpd.content import without_bare_cr
from affix.smtpd.ehlo import discarded_names, ehlo_keywords
from affix.smtpd.received import received_header, with_protocol
from affix.smtpd.xclient import TEMPUNAVAIL, UNAVAILABLE, parse_xclient

if TYPE_CHECKING:
    from affix.smtpd.content import DataReader


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # the verb, upper case; also the handler method's name
    stat: str  # its counter in the disconnect line
    junk: bool = False  # counts toward smtpd_junk_command_limit
    before_tls: bool = False  # allowed before STARTTLS when TLS is required


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("HELO", "helo", junk=True, before_tls=True),
    Command("EHLO", "ehlo", junk=True, before_tls=True),
    Command("XCLIENT", "xclient", before_tls=True),
    Command("STARTTLS", "starttls", before_tls=True),
    Command("AUTH", "auth"),
    Command("MAIL", "mail"),
    Command("RCPT", "rcpt"),
    Command("DATA", "data"),
    Command("BDAT", "bdat"),
    Command("RSET", "rset", junk=True),
    Command("NOOP", "noop", junk=True, before_tls=True),
    Command("VRFY", "vrfy", junk=True),
    Command("ETRN", "etrn", junk=True),
    Command("QUIT", "quit", before_tls=True),
)}

_ESCAPES = {9: "\\t", 10: "\\n", 13: "\\r", 92: "\\\\"}


def escape(data: bytes | str) -> str:
    """C-style escapes for client input in log lines (`\\r\\n`, `\\ooo`)."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    if raw.isascii() and all(32 <= b < 127 and b != 92 for b in raw):
        return raw.decode("ascii")
    return "".join(_ESCAPES.get(b) or (chr(b) if 32 <= b < 127 else f"\\{b:03o}") for b in raw)


class Transaction:
    """One mail transaction: from MAIL to the end of data, RSET, or a new HELO/EHLO."""

    __slots__ = ("sender", "arrival", "size_hint", "body_type", "smtputf8", "ret", "envid",
                 "recipients", "qf", "overshoot", "bdat_started", "bdat_checked",
                 "bdat_parts", "bdat_size", "bdat_error", "hold", "discard", "redirect",
                 "filter", "bcc", "prepend")

    def __init__(self, sender: str):
        self.sender = sender
        self.arrival = time.time()
        self.size_hint = 0
        self.body_type = ""
        self.smtputf8 = False
        self.ret = self.envid = ""
        self.recipients: list[Recipient] = []
        self.qf: Any = None
        self.overshoot = 0
        self.bdat_started = self.bdat_checked = False
        self.bdat_parts: list[bytes] = []
        self.bdat_size = 0
        self.bdat_error: Reply | None = None
        self.hold = self.discard = self.redirect = self.filter = None
        self.bcc: list[str] = []
        self.prepend: list[str] = []


class Verbs:
    """Mixin for SmtpSession; attributes (state, s, ctx, txn, ...) are the session's."""

    __slots__ = ()
    state: Any
    s: Any
    ctx: Any
    txn: Transaction | None
    cleanup: Any
    discard: frozenset[str]
    access_denied: bool
    xclient_ok: bool
    error_exempt: bool
    after: Any
    where: str
    errors: int
    junk: int
    buf: bytearray

    # --- connect ------------------------------------------------------------------------
    async def connect(self) -> Reply:
        """Name lookup, `connect from`, and (delay_reject=no) the client restrictions."""
        st = self.state
        if self.ctx.resolver is not None and self.s.peername_lookup:
            await self._lookup_names()
            self.client_changed()  # type: ignore[attr-defined]
        log.connect(st.client, self.s.syslog_name)
        if self._over_connection_limit():
            return replies.too_many_connections(self.s.hostname, st.client_addr)
        self.discard = self._discard_for_client()
        if not self.s.delay_reject:
            reply = await self._connect_check()
            if reply is not None:
                return reply
        return replies.greeting(self.s.banner)

    def _over_connection_limit(self) -> bool:
        """smtpd_client_connection_count_limit, unless the client is an exception."""
        limit, count = self.s.connection_limit, self.concurrency  # type: ignore[attr-defined]
        st = self.state
        if not limit or count <= limit or self._listed(  # type: ignore[attr-defined]
                self.s.limit_exceptions, st.client_name, st.client_addr):
            return False
        service = self.service.name if self.service is not None else "smtp"  # type: ignore
        log.connection_limit_exceeded(count, st.client, service, self.s.syslog_name)
        return True

    async def _lookup_names(self) -> None:
        try:
            from affix.dns.client_name import lookup_client_name
        except ImportError:  # area dns not wired yet: the name stays "unknown"
            return
        st = self.state
        names = await lookup_client_name(self.ctx.resolver, st.client_addr)
        st.client_name, st.reverse_name = names.name, names.reverse_name
        st.name_status, st.reverse_status = names.name_status, names.reverse_status
        if names.warning:
            log.warning("smtpd", names.warning, self.s.syslog_name)

    async def _connect_check(self) -> Reply | None:
        verdict = await self.ctx.policy.check(Stage.CONNECT, self.state)
        if verdict.reply is None:
            return None
        if not verdict.reply.hangs_up:
            self.access_denied = True  # restrictions.md §1: 503 for all but QUIT
            self.errors += 1  # the refusal counts against the error limits, as in Postfix
        return verdict.reply

    def _discard_for_client(self) -> frozenset[str]:
        """smtpd_discard_ehlo_keyword_address_maps, when it has an entry, replaces the list."""
        if not self.s.discard_maps or self.ctx.tables is None:
            return self.s.discard_keywords
        try:
            found = self.ctx.tables.maps(self.s.discard_maps).lookup(self.state.client_addr)
        except Exception as e:  # noqa: BLE001 - a broken table must not end the session
            log.warning("smtpd", f"smtpd_discard_ehlo_keyword_address_maps: {e}",
                        self.s.syslog_name)
            return self.s.discard_keywords
        if found is None:
            return self.s.discard_keywords
        return frozenset(k.lower() for k in split_list(found))

    # --- HELO / EHLO --------------------------------------------------------------------
    async def HELO(self, arg: str) -> Reply:
        return await self._hello(arg, Stage.HELO)

    async def EHLO(self, arg: str) -> Reply:
        return await self._hello(arg, Stage.EHLO)

    async def _hello(self, arg: str, stage: Stage) -> Reply:
        if not arg:
            return replies.HELO_SYNTAX if stage is Stage.HELO else replies.EHLO_SYNTAX
        # several words are one name, the white space between them `?` (Postfix: `EHLO bad
        # helo` is `bad?helo` in its replies and log)
        name = printable("?".join(arg.split()))
        self.reset_transaction()  # RFC 5321 4.1.4: a new HELO/EHLO implies RSET
        st = self.state
        if not self.s.delay_reject:
            st.helo = name
            verdict = await self.ctx.policy.check(stage, st)
            if verdict.reply is not None:
                st.helo = None  # the refused name is not remembered
                return verdict.reply
        st.helo = name
        if stage is Stage.HELO:
            return replies.helo(self.s.hostname)  # protocol stays as it was (SMTP or ESMTP)
        st.protocol = "ESMTP"
        if self.discard and "silent-discard" not in self.discard:
            names = discarded_names(self.discard)
            if names:
                log.ehlo_discarding(names, self.s.syslog_name)
        offer_tls = (self.s.tls_level != "none" and self.s.tls_context is not None
                     and not st.tls_active)
        words = ehlo_keywords(self.s, self.discard, offer_tls, self.xclient_ok)
        return replies.ehlo(self.s.hostname, tuple(words))

    # --- MAIL ---------------------------------------------------------------------------
    async def MAIL(self, arg: str) -> Reply:
        st = self.state
        if self.s.helo_required and st.helo is None:
            return replies.NEED_HELO
        if self.txn is not None:
            return replies.MAIL_AFTER_BDAT if self.txn.bdat_started else replies.NESTED_MAIL
        try:
            path = parse_path(arg, "FROM", self.s.strict_rfc821)
        except ValueError:
            log.illegal_address(st.client, "MAIL", address_token(arg), self.s.syslog_name)
            return replies.BAD_SENDER
        if path is None:
            return replies.MAIL_SYNTAX
        txn = Transaction(path.address)
        reply = self._mail_params(txn, path.params)
        if reply is not None:
            return reply
        if self.s.strict_smtputf8 and not txn.smtputf8 and not path.address.isascii():
            return replies.UTF8_UNDECLARED
        if self.s.size_limit and txn.size_hint > self.s.size_limit:
            self.log_reject("MAIL", replies.SIZE_FIXED_LIMIT, sender=path.address)
            return replies.SIZE_FIXED_LIMIT
        st.sender = path.address
        st.transactions += 1
        st.size = txn.size_hint or None
        self.txn = txn
        if not self.s.delay_reject:
            verdict = await self.ctx.policy.check(Stage.MAIL, st)
            if verdict.reply is not None:
                self.reset_transaction()
                return verdict.reply
            self._apply(verdict)
        return replies.MAIL_OK

    def _mail_params(self, txn: Transaction, params: tuple[str, ...]) -> Reply | None:
        """RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 3461 RET/ENVID, RFC 4954 AUTH
        (accepted and ignored, as Postfix does, since clients relaying mail send it)."""
        try:
            for param in params:
                key, value = split_param(param)
                if key == "SIZE":
                    txn.size_hint = parse_size(value)
                elif key == "BODY" and (value or "").upper() in ("7BIT", "8BITMIME"):
                    txn.body_type = (value or "").upper()  # any other: unsupported, as Postfix
                elif key == "SMTPUTF8" and value is None and self._feature("smtputf8"):
                    txn.smtputf8 = True
                elif key in ("RET", "ENVID"):
                    reply = self._dsn_mail_param(txn, key, value)
                    if reply is not None:
                        return reply
                elif key == "AUTH":
                    pass  # RFC 4954 5: no SASL here, so nobody's AUTH= is trusted; ignored
                else:
                    return replies.unsupported_option(param)
        except ArgError as e:
            return e.reply
        return None

    def _dsn_mail_param(self, txn: Transaction, key: str, value: str | None) -> Reply | None:
        if "dsn" in self.discard:
            return replies.DSN_DISABLED
        if key == "RET":  # given twice: a syntax error too
            if txn.ret:
                return replies.BAD_RET
            txn.ret = (value or "").upper()
            return None if txn.ret in ("FULL", "HDRS") else replies.BAD_RET
        # RFC 3461 4.4: at most 100 characters (Postfix sets no limit)
        envid = printable_xtext(value) if value and len(value) <= 100 else None
        if txn.envid or not envid:
            return replies.BAD_ENVID
        txn.envid = envid
        return None

    def _feature(self, keyword: str) -> bool:
        return keyword not in self.discard and (keyword != "smtputf8" or self.s.smtputf8)

    # --- RCPT ---------------------------------------------------------------------------
    async def RCPT(self, arg: str) -> Reply:
        txn, st = self.txn, self.state
        if txn is None:
            return replies.NEED_MAIL
        if txn.bdat_started:
            return replies.RCPT_AFTER_BDAT
        try:
            path = parse_path(arg, "TO", self.s.strict_rfc821)
        except ValueError:
            log.illegal_address(st.client, "RCPT", address_token(arg), self.s.syslog_name)
            return replies.BAD_RECIPIENT
        if path is None:
            return replies.RCPT_SYNTAX
        if not path.address:  # RCPT TO:<> is never valid
            log.illegal_address(st.client, "RCPT", "<>", self.s.syslog_name)
            return replies.BAD_RECIPIENT
        try:
            notify, orcpt = self._rcpt_params(path.params)
        except ArgError as e:
            return e.reply
        if self.s.strict_smtputf8 and not txn.smtputf8 and not path.address.isascii():
            return replies.UTF8_UNDECLARED
        if self.s.rcpt_limit and len(txn.recipients) >= self.s.rcpt_limit:
            txn.overshoot += 1  # the first overshoot RCPTs are not errors
            self.error_exempt = txn.overshoot <= self.s.overshoot_limit
            return replies.TOO_MANY_RECIPIENTS
        st.recipient = path.address
        try:
            verdict = await self.ctx.policy.check(Stage.RCPT, st)
        finally:
            st.recipient = None
        if verdict.reply is not None:
            # a HOLD (or another message action) found before the reject stays for the
            # message, as Postfix keeps it for the recipients still to come
            self._apply(verdict)
            return verdict.reply
        if txn.qf is None and not self._open_queue_file(txn):
            return replies.WRITE_ERROR
        self._apply(verdict)
        txn.recipients.append(Recipient(path.address, notify=notify, orcpt=orcpt))
        st.recipients.append(path.address)
        return replies.RCPT_OK

    def _rcpt_params(self, params: tuple[str, ...]) -> tuple[str, str]:
        """RFC 3461 NOTIFY and ORCPT; returns their values ("" when not given). Raises
        ArgError."""
        notify = orcpt = ""
        for param in params:
            key, value = split_param(param)
            if key not in ("NOTIFY", "ORCPT"):
                raise ArgError(replies.unsupported_option(param))
            if "dsn" in self.discard:
                raise ArgError(replies.DSN_DISABLED)
            if key == "NOTIFY":  # each at most once: a second is a syntax error
                unknown = unknown_notify_word(value)
                if unknown:
                    log.unknown_notify(unknown, value or "", self.s.syslog_name)
                notify = parse_notify(None if notify else value)
            else:
                orcpt = parse_orcpt(None if orcpt else value)
        return notify, orcpt

    def _open_queue_file(self, txn: Transaction) -> bool:
        """The queue id is assigned at the first accepted RCPT (smtp-and-logs.md §3)."""
        try:
            txn.qf = self.cleanup.open()
        except Exception as e:  # noqa: BLE001 - disk full, permissions: a 4xx, not a crash
            log.warning("smtpd", f"cannot create queue file: {e}", self.s.syslog_name)
            return False
        self.state.queue_id = txn.qf.queue_id
        log.client_queued(txn.qf.queue_id, self.state.client, syslog_name=self.s.syslog_name)
        return True

    def _apply(self, verdict: Verdict) -> None:
        """Access-table actions found by the engine act on the current transaction."""
        txn = self.txn
        if txn is None:
            return
        txn.hold = verdict.hold or txn.hold
        txn.discard = verdict.discard or txn.discard
        txn.redirect = verdict.redirect or txn.redirect
        txn.filter = verdict.filter or txn.filter
        txn.bcc.extend(verdict.bcc)
        txn.prepend.extend(verdict.prepend)

    # --- DATA / BDAT --------------------------------------------------------------------
    async def DATA(self, arg: str) -> Reply:
        txn = self.txn
        if txn is None:
            return replies.NEED_RCPT
        if not txn.recipients:
            return replies.NO_VALID_RCPT
        if arg:
            return replies.DATA_SYNTAX
        if txn.bdat_started:
            return replies.DATA_AFTER_BDAT
        verdict = await self.ctx.policy.check(Stage.DATA, self.state)
        if verdict.reply is not None:
            return verdict.reply
        self._apply(verdict)
        self.after = self.enter_data  # type: ignore[attr-defined]
        return replies.START_DATA

    async def end_of_data(self, reader: DataReader) -> Reply:
        """After the final `.`: size, bare LF, end-of-data restrictions, then the queue."""
        self.where = "END-OF-MESSAGE"
        txn = self.txn
        assert txn is not None
        if reader.too_big:
            log.queue_file_too_big(txn.qf.queue_id, self.s.syslog_name)
            self.reset_transaction()
            return replies.MESSAGE_TOO_BIG
        if reader.bare_lf and self.bare_mode == "reject":  # type: ignore[attr-defined]
            reply = replies.bare_newline(self.s.bare_newline_code, self.s.hostname)
            self.log_reject("END-OF-MESSAGE", reply, text=replies.BARE_LF)
            self.reset_transaction()  # the session goes on, as Postfix's does
            return reply
        return await self._deliver(reader.content(), reader.size)

    def bdat_begin(self, cmd: Command, arg: str) -> None:
        """RFC 3030: read the chunk first, reply after it (BDAT() runs at the chunk's end)."""
        words = arg.split()
        if "chunking" in self.discard:
            self.finish_command(cmd, replies.BDAT_NOT_IMPLEMENTED)  # type: ignore[attr-defined]
            return
        if not words or not is_digits(words[0]) or len(words[0]) > 18:
            log.malformed_bdat(self.state.queue_id, self.state.client, f"BDAT {arg}".rstrip(),
                               self.s.syslog_name)
            self.finish_command(cmd, replies.BDAT_COUNT_SYNTAX)  # type: ignore[attr-defined]
            return
        txn = self.txn
        keep = (txn is not None and bool(txn.recipients) and txn.bdat_error is None
                and _bdat_last(words) is not None)
        if keep:
            txn.bdat_started = True  # type: ignore[union-attr]
        self.enter_chunk(cmd, arg, int(words[0]), keep)  # type: ignore[attr-defined]

    def chunk_received(self, data: bytes) -> None:
        txn = self.txn
        if txn is None or txn.bdat_error is not None:
            return
        txn.bdat_size += len(data)
        if self.s.size_limit and txn.bdat_size > self.s.size_limit:
            log.bdat_too_big(self.state.queue_id, self.state.client, self.s.syslog_name)
            txn.bdat_error = replies.CHUNK_TOO_BIG
            txn.bdat_parts.clear()
            return
        txn.bdat_parts.append(data)

    async def BDAT(self, arg: str) -> Reply:
        """Called once the chunk has been read (see bdat_begin)."""
        words = arg.split()
        last = _bdat_last(words)
        txn = self.txn
        if last is None:
            return replies.BDAT_SYNTAX
        if txn is None:
            return replies.NEED_RCPT
        if not txn.recipients:
            return replies.NO_VALID_RCPT
        if int(words[0]) == 0 and not last:
            return replies.NULL_BDAT
        if not txn.bdat_checked:
            txn.bdat_checked = True
            verdict = await self.ctx.policy.check(Stage.DATA, self.state)
            txn.bdat_error = txn.bdat_error or verdict.reply
            self._apply(verdict)
        if txn.bdat_error is not None:
            reply = txn.bdat_error
            if last:
                self.reset_transaction()
            return reply
        if not last:
            return replies.bdat_chunk_ok(int(words[0]))
        self.where = "END-OF-MESSAGE"
        content = without_bare_cr(b"".join(txn.bdat_parts).replace(b"\r\n", b"\n"))
        txn.bdat_parts = []
        size = txn.bdat_size
        return replies.bdat_last(size, await self._deliver(content, size))

    async def _deliver(self, content: bytes, size: int) -> Reply:
        txn, st = self.txn, self.state
        assert txn is not None
        st.size = size
        verdict = await self.ctx.policy.check(Stage.END_OF_DATA, st)
        if verdict.reply is not None:
            self.reset_transaction()
            return verdict.reply
        self._apply(verdict)
        envelope = self._envelope(txn)
        data = self._headers(txn).encode("utf-8", "surrogateescape") + _mailbox_line(content)
        try:
            reply = await self.cleanup.finish(txn.qf, envelope, data)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the client gets a 4xx, never a lost message
            log.warning("smtpd", f"{txn.qf.queue_id}: queue file write error: {e!r}",
                        self.s.syslog_name)
            self.reset_transaction()
            return replies.WRITE_ERROR
        self.txn = None  # cleanup has finished (or removed) the queue file
        self.reset_transaction()
        if reply.code < 400:
            self.errors = self.junk = 0  # a delivered message resets the error count
        return reply

    def _envelope(self, txn: Transaction) -> Envelope:
        st = self.state
        recipients = list(txn.recipients) + [Recipient(a) for a in txn.bcc]
        return Envelope(
            sender=txn.sender, recipients=recipients, arrival=txn.arrival,
            client_name=st.client_name, client_addr=st.client_addr, helo=st.helo or "",
            protocol=self._with_protocol(txn), sasl_username=st.sasl_username or "",
            size_hint=txn.size_hint, body_type=txn.body_type, smtputf8=txn.smtputf8,
            hold=txn.hold, discard=txn.discard, redirect=txn.redirect, filter=txn.filter,
            ret=txn.ret, envid=txn.envid)

    def _with_protocol(self, txn: Transaction) -> str:
        st = self.state
        return with_protocol(st.protocol, st.tls_active, bool(st.sasl_username), txn.smtputf8)

    def _headers(self, txn: Transaction) -> str:
        """PREPEND headers from access tables, then Received (smtp-and-logs.md §2)."""
        st = self.state
        top = "".join(h.rstrip("\n") + "\n" for h in txn.prepend)
        return top + received_header(
            st.helo, st.client_name, st.client_addr, self.s.hostname, self.s.mail_name,
            self._with_protocol(txn), txn.qf.queue_id, [r.address for r in txn.recipients],
            txn.arrival,  # dated when MAIL began the transaction, as Postfix dates it
            (st.tls_protocol, st.tls_cipher, st.tls_bits)
            if st.tls_active and self.s.tls_received_header else None)

    # --- the rest -----------------------------------------------------------------------
    async def RSET(self, arg: str) -> Reply:
        if arg:
            return replies.RSET_SYNTAX
        self.reset_transaction()
        return replies.OK

    async def NOOP(self, arg: str) -> Reply:
        return replies.OK  # arguments are ignored (RFC 5321 4.1.1.9)

    async def QUIT(self, arg: str) -> Reply:
        return replies.BYE

    async def AUTH(self, arg: str) -> Reply:
        return replies.AUTH_NOT_ENABLED  # SASL is not implemented yet

    async def VRFY(self, arg: str) -> Reply:
        if self.s.disable_vrfy:
            return replies.VRFY_DISABLED
        words = arg.split()
        if self.s.smtputf8 and len(words) > 1 and words[-1].upper() == "SMTPUTF8":
            words = words[:-1]
        if not words:
            return replies.vrfy_syntax(self.s.smtputf8)
        text = " ".join(words)
        inner = text[1:-1] if text.startswith("<") and text.endswith(">") else text
        try:
            address = check_address(inner)
        except ValueError:
            return replies.BAD_RECIPIENT
        if not address:  # the null address names nobody
            return replies.BAD_RECIPIENT
        st = self.state
        st.recipient = address
        try:
            verdict = await self.ctx.policy.check(Stage.VRFY, st)
        finally:
            st.recipient = None
        return verdict.reply or replies.vrfy_ok(text)

    async def ETRN(self, arg: str) -> Reply:
        """RFC 1985. There is no queue flush service yet, unless the context has a hook."""
        st = self.state
        if self.s.helo_required and st.helo is None:
            return replies.ETRN_NEED_HELO
        if self.txn is not None:
            return replies.ETRN_IN_TRANSACTION
        words = arg.split()
        if len(words) != 1:
            return replies.ETRN_SYNTAX
        domain = words[0].lstrip("@#")
        if not (valid_hostname(domain) or valid_address_literal(domain)):
            return replies.ETRN_BAD_DOMAIN  # `bad..name` too, as Postfix judges host names
        st.etrn_domain = domain
        try:
            verdict = await self.ctx.policy.check(Stage.ETRN, st)
        finally:
            st.etrn_domain = None
        if verdict.reply is not None:
            return verdict.reply
        hook = getattr(self.ctx, "etrn", None)
        if hook is None:
            return replies.ETRN_UNAVAILABLE
        if await hook(domain):
            return replies.ETRN_STARTED
        log.etrn_refused(words[0], st.client, self.s.syslog_name)
        return replies.etrn_service_unavailable(domain)

    async def STARTTLS(self, arg: str) -> Reply:
        if arg:
            return replies.STARTTLS_SYNTAX
        if self.state.tls_active:
            return replies.TLS_ACTIVE
        if self.s.tls_level == "none" or "starttls" in self.discard:
            return replies.NOT_IMPLEMENTED
        if self.s.tls_context is None:
            return replies.TLS_UNAVAILABLE
        # Command injection fix (CVE-2011-0411): what was pipelined in plaintext is dropped.
        self.buf.clear()
        self.after = self.start_tls  # type: ignore[attr-defined]
        return replies.READY_TLS

    async def XCLIENT(self, arg: str) -> Reply:
        if self.txn is not None:  # checked first, as Postfix does
            return replies.XCLIENT_IN_TRANSACTION
        if not self.xclient_ok:
            return replies.XCLIENT_DENIED
        try:
            attrs = parse_xclient(arg)
        except ArgError as e:
            return e.reply
        self._xclient_apply(attrs)
        if not self.s.delay_reject:
            reply = await self._connect_check()
            if reply is not None:
                return reply
        return replies.greeting(self.s.banner)  # XCLIENT_README: a new greeting

    def _xclient_apply(self, attrs: dict[str, str]) -> None:
        """Replace what smtpd knows about the client; the session starts over."""
        st = self.state
        if "NAME" in attrs:
            st.client_name, st.name_status = _xclient_name(attrs["NAME"])
            st.reverse_name, st.reverse_status = st.client_name, st.name_status
        if "REVERSE_NAME" in attrs:
            st.reverse_name, st.reverse_status = _xclient_name(attrs["REVERSE_NAME"])
        if "ADDR" in attrs:
            st.client_addr = "unknown" if attrs["ADDR"].startswith("[") else attrs["ADDR"]
        if "PORT" in attrs:
            st.client_port = int(attrs["PORT"]) if is_digits(attrs["PORT"]) else 0
        if "DESTADDR" in attrs and not attrs["DESTADDR"].startswith("["):
            st.server_addr = attrs["DESTADDR"]
        if "DESTPORT" in attrs and is_digits(attrs["DESTPORT"]):
            st.server_port = int(attrs["DESTPORT"])
        helo = attrs.get("HELO")
        st.helo = None if helo is None or helo.startswith("[") else printable(helo)
        proto = attrs.get("PROTO")
        st.protocol = proto if proto in ("SMTP", "ESMTP") else "SMTP"
        if "LOGIN" in attrs:
            login = attrs["LOGIN"]
            st.sasl_username = None if login in (UNAVAILABLE, TEMPUNAVAIL) else login
        st.illegal_pipelining = False
        self.access_denied = False
        self.discard = self._discard_for_client()
        self.client_changed()  # type: ignore[attr-defined]

    # --- helpers ------------------------------------------------------------------------
    def log_reject(self, stage: str, reply: Reply, sender: str | None = None,
                   text: str | None = None) -> None:
        """A reject smtpd produces itself (the engine logs its own); `text`: what the line
        says instead of the reply."""
        st = self.state
        log.smtpd_action("reject", st.queue_id, stage, st.client,
                         str(reply) if text is None else text,
                         sender=sender if sender is not None else st.sender,
                         recipient=st.recipients[0] if len(st.recipients) == 1 else None,
                         protocol=st.protocol, helo=st.helo, syslog_name=self.s.syslog_name)

    def reset_transaction(self) -> None:
        self.abandon_transaction()

    def abandon_transaction(self) -> None:
        """Forget the transaction; an opened queue file is given back to cleanup."""
        txn, self.txn = self.txn, None
        if txn is not None and txn.qf is not None:
            try:
                result = self.cleanup.abandon(txn.qf)
                if inspect.isawaitable(result):
                    asyncio.ensure_future(result)
            except Exception as e:  # noqa: BLE001
                log.warning("smtpd", f"{txn.qf.queue_id}: cannot remove queue file: {e}",
                            self.s.syslog_name)
        st = self.state
        st.sender = st.recipient = st.queue_id = st.size = None
        if st.recipients:
            st.recipients = []


def _bdat_last(words: list[str]) -> bool | None:
    """`BDAT n` -> False, `BDAT n LAST` -> True, anything else -> None (syntax error)."""
    if len(words) == 1:
        return False
    if len(words) == 2 and words[1].upper() == "LAST":
        return True
    return None


def _xclient_name(value: str) -> tuple[str, NameStatus]:
    if value == UNAVAILABLE:
        return "unknown", NameStatus.PERM
    if value == TEMPUNAVAIL:
        return "unknown", NameStatus.TEMP
    return value, NameStatus.OK


def _mailbox_line(content: bytes) -> bytes:
    """A leading mbox `From ` line (also `>From `) becomes an X-Mailbox-Line: header."""
    if not (content.startswith(b"From ") or content.lstrip(b">").startswith(b"From ")):
        return content
    end = content.find(b"\n")
    end = len(content) if end < 0 else end
    return b"X-Mailbox-Line: " + content[:end] + content[end:]
