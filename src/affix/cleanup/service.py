"""cleanup: turns an accepted message into a durable queue file (cleanup-and-delivery.md §1-2).

smtpd calls open() at the first accepted RCPT (the queue id exists from then on), finish() at
the end of data and abandon() on RSET/QUIT/lost connection. finish() replies 250 only after the
queue file and its directory entry are on disk (design.md: "250 means on disk"). submit() is the
entry for mail made inside affix (bounces) and for local submissions (`affix sendmail`), which
re-enter the queue here rather than writing queue files themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from affix import log
from affix.cleanup import headers as hdr
from affix.cleanup import replies
from affix.cleanup.checks import CheckResult, ContentChecks
from affix.cleanup.local_clients import LocalClients
from affix.cleanup.virtual import ExpansionProblem, VirtualAliases
from affix.config.snapshot import Config
from affix.queue import qfile
from affix.queue.commit import GroupCommit
from affix.queue.envelope import Envelope, Recipient
from affix.queue.store import QueueFile, QueueStore
from affix.reply import Reply

# Origins of a message: how much cleanup trusts and fixes it.
# requeue: `affix queue requeue` passes stored mail through again, content as it is.
SMTP, LOCAL, INTERNAL, REQUEUE = "smtp", "local", "internal", "requeue"
# the headers prepare() adds when missing (_add_missing) and logs (_log_ids): looked for at once
_LOOKED_FOR = frozenset({"message-id", "date", "from", "resent-message-id"})


class SubmitError(Exception):
    """submit() refused a message; .reply says why (as smtpd would have been told)."""

    def __init__(self, reply: Reply, queue_id: str = ""):
        super().__init__(str(reply))
        self.reply = reply
        self.queue_id = queue_id  # the id the refused message had (named in its log lines)


@dataclass
class Prepared:
    data: bytes | None  # the queue file, None when rejected or discarded
    reply: Reply
    hold: bool = False


class Cleanup:
    def __init__(self, cfg: Config, store: QueueStore,
                 notify: Callable[[str], None] | None = None):
        self.cfg = cfg
        self.store = store
        self.notify = notify  # the lifecycle sets this to QueueManager.wake
        self.checks = ContentChecks(cfg)
        self.virtual = VirtualAliases(cfg) if cfg.get("virtual_alias_maps").strip() else None
        self.local_clients = LocalClients(cfg)
        self.committer = GroupCommit(store)

    # --- the smtpd interface -----------------------------------------------------------------
    def open(self) -> QueueFile:
        return self.store.create()

    async def finish(self, qf: QueueFile, envelope: Envelope, content: bytes,
                     origin: str = SMTP) -> Reply:
        prepared = self.prepare(qf.queue_id, envelope, content, origin)
        if prepared.data is None:
            await asyncio.to_thread(self.store.abandon, qf)
            return prepared.reply
        try:
            await self.committer.commit(qf, prepared.data)  # shared fsyncs, see queue/commit.py
        except OSError as e:
            log.cleanup_write_error(qf.queue_id, e.strerror or str(e))
            await asyncio.to_thread(self.store.abandon, qf)
            return replies.WRITE_ERROR
        if prepared.hold:
            await asyncio.to_thread(self._hold, qf.queue_id)
        self._wake(qf.queue_id)
        return prepared.reply

    def abandon(self, qf: QueueFile) -> None:
        self.store.abandon(qf)

    # --- internal and local submissions ------------------------------------------------------
    async def submit(self, envelope: Envelope, content: bytes, origin: str = INTERNAL) -> str:
        """Queue a message made by affix (bounce) or a local user; returns its queue id."""
        return await asyncio.to_thread(self.submit_sync, envelope, content, origin)

    def submit_sync(self, envelope: Envelope, content: bytes, origin: str = INTERNAL,
                    uid: int | None = None) -> str:
        """`uid`: the local user who submitted it (LOCAL); this process's when not given."""
        uid = os.getuid() if uid is None else uid
        qf = self.store.create()
        try:
            if origin in (LOCAL, INTERNAL):
                content = self._local_received(qf.queue_id, envelope, origin, uid) + content
            if origin == LOCAL:
                log.pickup_received(qf.queue_id, uid, envelope.sender)
            prepared = self.prepare(qf.queue_id, envelope, content, origin)
            if prepared.data is None:
                self.store.abandon(qf)
                if prepared.reply.code >= 400:
                    raise SubmitError(prepared.reply, qf.queue_id)
                return qf.queue_id  # discarded
            self._store(qf, prepared)
        except BaseException:
            self.store.abandon(qf)
            raise
        self._wake(qf.queue_id)
        return qf.queue_id

    # --- the work ----------------------------------------------------------------------------
    def prepare(self, queue_id: str, envelope: Envelope, content: bytes, origin: str) -> Prepared:
        """Everything but the disk writes: header fixes, checks, limits, the file image."""
        msg = hdr.split(content)
        if origin != REQUEUE:  # a forwarded copy counts its hops too (its Received header)
            reject = self._hop_check(queue_id, msg)
            if reject:
                return Prepared(None, reject)
        result = (self.checks.inspect(queue_id, envelope, msg, origin)
                  if self._checked(origin) else CheckResult())
        if result.reject:
            return Prepared(None, result.reject)
        hdr.drop(msg, self._drop_names)
        local = origin == LOCAL or (origin == SMTP and self.local_clients(envelope))
        if local:
            hdr.qualify_addresses(msg, self.cfg.get("myorigin"))
        found = hdr.first(msg, _LOOKED_FOR)
        if local or origin == INTERNAL or (origin == SMTP and
                                          self.cfg.bool("always_add_missing_headers")):
            self._add_missing(queue_id, envelope, msg, found)
        if msg.body and not msg.body.startswith(b"\n"):
            # the first line that is no header ends the headers: the empty line that should
            # have come first is put in, or readers would take that line for a header
            msg.body = b"\n" + msg.body
        if envelope.discard or result.discard:  # Postfix logs no message-id for it
            return Prepared(None, replies.queued(queue_id))
        self._log_ids(queue_id, found)
        try:
            env = self._final_envelope(envelope, result)
        except ExpansionProblem as e:
            log.warning("cleanup", f"{queue_id}: {e}")
            return Prepared(None, e.reply)
        hold = bool(envelope.hold or result.hold)
        flags = "--H-----" if hold else "-" * qfile.FLAGS_WIDTH
        data = qfile.encode(queue_id, env, msg.join(), flags)
        limit = self.cfg.size("message_size_limit")
        if limit and len(data) > limit:
            log.cleanup_size_exceeded(queue_id)
            return Prepared(None, replies.MESSAGE_TOO_BIG)
        return Prepared(data, replies.queued(queue_id), hold)

    @functools.cached_property
    def _drop_names(self) -> frozenset[str]:
        """message_drop_headers, lower case (read at the first message, as the checks' limits)."""
        return frozenset(h.lower() for h in self.cfg.list("message_drop_headers"))

    def _checked(self, origin: str) -> bool:
        """Content checks apply to SMTP, local and re-queued mail; to mail affix makes itself
        (bounces) only when internal_mail_filter_classes says so (default: never)."""
        if origin == INTERNAL:
            return "bounce" in self.cfg.list("internal_mail_filter_classes")
        return True

    def _hop_check(self, queue_id: str, msg: hdr.Message) -> Reply | None:
        # cleanup-and-delivery.md §2: counted before header_checks, including smtpd's Received.
        if hdr.count(msg, "received") >= self.cfg.int("hopcount_limit"):
            log.cleanup_hopcount_exceeded(queue_id)
            return replies.TOO_MANY_HOPS
        return None

    def _add_missing(self, queue_id: str, envelope: Envelope, msg: hdr.Message,
                     found: dict[str, bytes]) -> None:
        """Postfix adds these only for local submissions (sendmail, local_clients.py) or with
        always_add_missing_headers. `found` (hdr.first) gets the Message-Id added here, which
        _log_ids logs next."""
        host = self.cfg.get("myhostname")
        if "message-id" not in found:
            long_ids = self.cfg.bool("enable_long_queue_ids")
            found["message-id"] = hdr.make("Message-Id",
                                           hdr.message_id_value(queue_id, host, long_ids))
            msg.headers.append(found["message-id"])
        if "date" not in found:
            msg.headers.append(hdr.make("Date", hdr.rfc2822_date()))
        if "from" not in found:  # the null sender is named as Postfix names it, unqualified
            msg.headers.append(hdr.make("From", envelope.sender or "MAILER-DAEMON"))

    @staticmethod
    def _log_ids(queue_id: str, found: dict[str, bytes]) -> None:
        message_id = found.get("message-id")
        log.cleanup_message_id(queue_id, hdr.value_of(message_id) if message_id else "<>")
        resent = found.get("resent-message-id")
        if resent is not None:
            log.cleanup_message_id(queue_id, hdr.value_of(resent), resent=True)

    def _final_envelope(self, envelope: Envelope, result: CheckResult) -> Envelope:
        """Apply REDIRECT/BCC and virtual_alias_maps, and drop duplicate recipients (Postfix
        duplicate_filter). Raises ExpansionProblem."""
        redirect = result.redirect or envelope.redirect
        rcpts = list(envelope.recipients)
        if redirect:
            rcpts = [Recipient(redirect, r.original or r.address, notify=r.notify,
                               orcpt=r.orcpt) for r in rcpts[:1]]
        rcpts += [Recipient(b, notify="NEVER") for b in result.bcc]
        if self.virtual and "no_address_mappings" not in \
                self.cfg.list("receive_override_options"):
            rcpts = [Recipient(a, r.original or (r.address if a != r.address else ""),
                               notify=r.notify, orcpt=r.orcpt)
                     for r in rcpts for a in self.virtual.expand(r.address)]
        seen: set[tuple[str, str]] = set()
        unique = []
        for r in rcpts:
            key = (r.address.lower(), (r.original or r.address).lower())
            if key not in seen:
                seen.add(key)
                unique.append(r)
        env = Envelope(**{**envelope.__dict__, "recipients": unique})
        if result.filter:
            env.filter = result.filter
        return env

    def _store(self, qf: QueueFile, prepared: Prepared) -> None:
        assert prepared.data is not None
        self.store.write(qf, prepared.data)
        self.store.commit(qf)
        if prepared.hold:
            self._hold(qf.queue_id)

    def _hold(self, queue_id: str) -> None:
        # The file is committed (the 250 is due); if the queue manager already moved it,
        # it saw the hold flag and put it in hold itself.
        with contextlib.suppress(FileNotFoundError):
            self.store.move(queue_id, "incoming", "hold")

    def _local_received(self, queue_id: str, envelope: Envelope, origin: str,
                        uid: int) -> bytes:
        """The Received header of mail that starts on this host: a local submission's names
        the user (pickup's), and affix's own (a bounce, a forwarded copy) only the host, as
        Postfix's do; a forwarded copy thus counts one more hop each time round."""
        host = self.cfg.get("myhostname")
        name = self.cfg.get("mail_name")
        if origin == LOCAL:
            name += f", from userid {uid}"
        return (f"Received: by {host} ({name})\n"
                f"\tid {queue_id}; {hdr.rfc2822_date(envelope.arrival or time.time())}\n"
                ).encode()

    def _wake(self, queue_id: str) -> None:
        if self.notify is not None:
            self.notify(queue_id)

