"""local(8): delivery for domains in mydestination (cleanup-and-delivery.md §3).

Order per recipient: Delivered-To loop check, alias_maps (`user+ext`, then `user`), ~/.forward,
then the mailbox (mailbox_command, home_mailbox, or mail_spool_directory; Maildir when the path
ends in `/`).

Where the addresses an alias names go, as in Postfix: addresses in a local domain are delivered
here and now, under the same queue id (`to=<user@host>, orig_to=<alias@host>`), each address
once per queue recipient; the others, and everything a .forward file, an :include: file or an alias
with an owner- alias names, are re-submitted through cleanup as a new message (`forwarded as
NEWQID`), whose Received header counts the hop.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from affix import log
from affix.cleanup import headers as hdr
from affix.config.snapshot import Config
from affix.delivery import mailbox, privs
from affix.delivery.agent import DEFERRED, DeliveryRequest, Outcome, outcome_for
from affix.delivery.aliases import split_alias_values
from affix.delivery.command import command_env, run_command
from affix.delivery.maps import DeliveryMaps
from affix.delivery.syncs import Syncs
from affix.offload import Offload
from affix.queue.envelope import Envelope, Recipient
from affix.tables.base import TableError

Submit = Callable[[Envelope, bytes], str]  # cleanup.submit_sync: returns the new queue id
_MAX_DEPTH = 100  # :include: nesting, as Postfix limits alias expansion depth
_PASSWD_TTL = 1.0  # seconds a user's passwd entry is reused (each lookup reads /etc/passwd)


@dataclass(frozen=True)
class _Ctx:
    req: DeliveryRequest
    rcpt: str
    orig: str
    extension: str = ""
    depth: int = 0  # aliases expanded in place to get here
    seen: set[str] = field(default_factory=set)  # addresses delivered for this recipient

    def outcome(self, dsn: str, text: str) -> Outcome:
        return outcome_for(self.rcpt, dsn, text, "local", self.orig)

    def with_extension(self, extension: str) -> _Ctx:
        # not replace(): see Outcome
        return _Ctx(self.req, self.rcpt, self.orig, extension, self.depth, self.seen)

    def for_address(self, address: str) -> _Ctx:
        """An address an alias names, delivered in place: still the same queue recipient."""
        return _Ctx(self.req, address, self.orig, "", self.depth + 1, self.seen)


def split_address(address: str) -> tuple[str, str]:
    local, at, domain = address.rpartition("@")
    return (local, domain.lower()) if at else (address, "")


class LocalAgent:
    name = "local"

    def __init__(self, cfg: Config, submit: Submit | None = None,
                 maps: DeliveryMaps | None = None, offload: Offload | None = None,
                 syncs: Syncs | None = None):
        self.cfg = cfg
        self.submit = submit
        self.maps = maps if maps is not None else DeliveryMaps(cfg)
        # With the queue manager's Offload, a delivery that only writes a Maildir does its
        # file work on the event loop (while such work is short), and its fsyncs go through
        # `syncs` (delivery/syncs.py): a thread per delivery costs more in hand-offs and
        # interpreter-lock traffic than the file work it keeps off the loop. Anything that
        # may take long (commands, mbox locks, forwarding) keeps its thread.
        self.offload = offload
        # the queue manager's, shared by its agents (an agent made without one has its own)
        self.syncs = syncs if syncs is not None or offload is None else Syncs(offload)
        self._reported = False
        self._problem = self.config_error()  # the snapshot never changes: check once
        self._users: dict[str, tuple[float, pwd.struct_passwd | None]] = {}
        # forward_path's templates, split once into text and $names (read per delivery)
        self._forward_path = [_VARIABLE.split(t) for t in _split(cfg.raw("forward_path") or "")]

    def _user(self, name: str) -> pwd.struct_passwd:
        """pwd.getpwnam, each answer (an unknown user too: KeyError) reused for a second."""
        now = time.monotonic()
        found = self._users.get(name)
        if found is None or found[0] < now:
            try:
                entry: pwd.struct_passwd | None = pwd.getpwnam(name)
            except KeyError:
                entry = None
            if len(self._users) > 1000:
                self._users.clear()
            found = self._users[name] = (now + _PASSWD_TTL, entry)
        if found[1] is None:
            raise KeyError(name)
        return found[1]

    def destination(self, recipient: str) -> str:
        return split_address(recipient)[0].lower()

    def concurrency(self) -> int:
        return max(1, self.cfg.int("local_destination_concurrency_limit"))

    async def deliver(self, request: DeliveryRequest) -> list[Outcome]:
        offload = self.offload
        plain = self._plain_maildir(request.recipient.address) if offload else None
        if offload is None or plain is None:
            return await asyncio.to_thread(self.deliver_sync, request)
        return [await self._deliver_plain(offload, request, *plain)]

    async def _deliver_plain(self, offload: Offload, request: DeliveryRequest,
                             pw: pwd.struct_passwd, ext: str) -> Outcome:
        """A delivery that only writes the user's own Maildir: its file work on the loop while
        that is short, its fsync through self.syncs; or, when the file work is slow, all of
        it on one thread. The outcome names new/, which the queue manager fsyncs before it
        records the delivery."""
        syncs = self.syncs
        assert syncs is not None
        if not offload.on_loop():
            return await asyncio.to_thread(self._deliver_plain_here, offload, request, pw, ext)
        started = offload.timed(self._start_plain, request, pw, ext)
        if isinstance(started, Outcome):
            return started
        ctx, file = started
        try:
            await syncs.file(file.fd)
        except OSError as e:
            mailbox.abort_maildir(file)
            return self._maildir_error(ctx, file.path, e)
        except BaseException:
            mailbox.abort_maildir(file)
            raise
        return offload.timed(self._finish_plain, ctx, file)

    def _deliver_plain_here(self, offload: Offload, request: DeliveryRequest,
                            pw: pwd.struct_passwd, ext: str) -> Outcome:
        """_deliver_plain in one go, on a thread: the file work timed apart from the fsync
        (each with its own offload), so that a disk that is quick again brings either back."""
        assert self.syncs is not None
        started = offload.timed(self._start_plain, request, pw, ext)
        if isinstance(started, Outcome):
            return started
        ctx, file = started
        try:
            self.syncs.offload.timed(os.fsync, file.fd)
        except BaseException as e:
            mailbox.abort_maildir(file)
            if isinstance(e, OSError):
                return self._maildir_error(ctx, file.path, e)
            raise
        return offload.timed(self._finish_plain, ctx, file)

    def _start_plain(self, request: DeliveryRequest, pw: pwd.struct_passwd,
                     ext: str) -> Outcome | tuple[_Ctx, mailbox.MaildirFile]:
        """deliver_sync's checks, then the Maildir file written in tmp/ (not yet synced);
        an Outcome when there is nothing to sync."""
        r = request.recipient
        ctx = _Ctx(request, r.address, r.original or r.address, seen={r.address.lower()})
        early = self._refused(request, ctx)
        if early is not None:
            return early
        ctx = ctx.with_extension(ext)
        path, in_home = self._mailbox_path(pw)
        owner = None if in_home else privs.owner_for(privs.from_passwd(pw))
        try:
            return ctx, mailbox.start_maildir(path, self._headers(ctx, True) + request.content,
                                              limit=self.cfg.size("mailbox_size_limit"),
                                              owner=owner)
        except OSError as e:
            return self._maildir_error(ctx, path, e)

    def _finish_plain(self, ctx: _Ctx, file: mailbox.MaildirFile) -> Outcome:
        try:
            new = mailbox.finish_maildir(file, sync_new=False)
        except OSError as e:
            return self._maildir_error(ctx, file.path, e)
        return ctx.outcome("2.0.0", "delivered to maildir").with_unsynced(os.path.dirname(new))

    def _plain_maildir(self, rcpt: str) -> tuple[pwd.struct_passwd, str] | None:
        """(user, address extension) when delivery to `rcpt` is a write to the user's own
        Maildir and nothing else: no alias, no .forward, no mailbox_command."""
        if self.cfg.get("mailbox_command") or not mailbox.delivers_to_maildir(self.cfg):
            return None
        local = split_address(rcpt)[0].lower()
        user, ext = self._split_ext(local)
        try:
            if any(self.maps.lookup("alias_maps", key) is not None for key in {local, user}):
                return None
            pw = self._user(user)
        except (TableError, KeyError):
            return None
        if self.cfg.get("home_mailbox") and privs.needs_child(privs.from_passwd(pw)):
            return None  # written by a child process with the user's rights: not on the loop
        return None if self._read_forward(pw, ext) else (pw, ext)

    def config_error(self) -> str | None:
        """local(8)'s start-up checks (cleanup-and-delivery.md §4), which postconf does not make."""
        mailbox_limit = self.cfg.size("mailbox_size_limit")
        message_limit = self.cfg.size("message_size_limit")
        if mailbox_limit and not message_limit:
            return "mailbox_size_limit is limited but message_size_limit is unlimited"
        if mailbox_limit and mailbox_limit < message_limit:
            return "mailbox_size_limit is smaller than message_size_limit"
        return None

    def deliver_sync(self, request: DeliveryRequest) -> list[Outcome]:
        r = request.recipient
        ctx = _Ctx(request, r.address, r.original or r.address, seen={r.address.lower()})
        early = self._refused(request, ctx)
        if early is not None:
            return [early]
        try:
            return self._resolve(ctx)
        except TableError as e:  # e.g. mydestination names a table that cannot be read
            log.warning("local", str(e))
            return [ctx.outcome("4.3.0", "table lookup problem")]

    def _refused(self, request: DeliveryRequest, ctx: _Ctx) -> Outcome | None:
        """The outcome of a delivery that cannot start: a configuration error, or a loop."""
        problem = self._problem
        if problem:
            # local cannot start: the mail stays queued until the admin fixes main.cf
            if not self._reported:
                log.fatal("local", f"configuration error: {problem}")
                self._reported = True
            return ctx.outcome("4.3.5", "mail system configuration error")
        address = request.recipient.address
        if self._looped(request.content, address):
            # local(8)'s own loop check, independent of the hop count (§2)
            return ctx.outcome("5.4.6", f"mail forwarding loop for {address}")
        return None

    # --- resolution --------------------------------------------------------------------------
    def _split_ext(self, local: str) -> tuple[str, str]:
        for delim in self.cfg.get("recipient_delimiter"):
            user, found, ext = local.partition(delim)
            if found and user:
                return user, ext
        return local, ""

    def _resolve(self, ctx: _Ctx) -> list[Outcome]:
        local = split_address(ctx.rcpt)[0].lower()
        user, ext = self._split_ext(local)
        ctx = ctx.with_extension(ext)
        for key in [local, user] if ext else [local]:
            try:
                value = self.maps.lookup("alias_maps", key)
            except TableError as e:
                log.warning("local", str(e))
                return [ctx.outcome("4.3.0", "alias database unavailable")]
            if value is not None:
                return self._expand(ctx, key, split_alias_values(value), "alias",
                                    self._alias_privs(), 0)
        try:
            pw = self._user(user)
        except KeyError:
            return [self._unknown(ctx, user)]
        forward = self._read_forward(pw, ext)
        if forward:
            return self._expand(ctx, user, forward, "forward", privs.from_passwd(pw), 0)
        return [self._mailbox(ctx, pw)]

    def _unknown(self, ctx: _Ctx, user: str) -> Outcome:
        relay = self.cfg.get("luser_relay")
        if relay:
            target = relay.replace("$user", user).replace("${user}", user)
            return self._forward(ctx, user, [target])
        return ctx.outcome("5.1.1", f'unknown user: "{user}"')

    def _expand(self, ctx: _Ctx, key: str, values: list[str], kind: str, who: privs.Privs,
                depth: int) -> list[Outcome]:
        outcomes: list[Outcome] = []
        addresses: list[str] = []
        for value in values:
            if value.startswith("|"):
                outcomes.append(self._command(ctx, value[1:], kind, who))
            elif value.lower().startswith(":include:"):
                outcomes += self._include(ctx, key, value[9:].strip(), who, depth)
            elif value.startswith("/"):
                outcomes.append(self._file(ctx, value, kind, who))
            elif self._is_self(value, key):
                outcomes.append(self._own_mailbox(ctx, value.lstrip("\\")))
            else:
                addresses.append(value)
        here, away = self._in_place(ctx, key, kind, addresses)
        looped = False
        members: list[tuple[str, list[Outcome]]] = []
        for address in here:
            if address.lower() in ctx.seen:
                looped = True  # delivered already for this recipient, or a loop back
                continue
            ctx.seen.add(address.lower())
            members.append((address, self._resolve(ctx.for_address(address))))
        # A member that cannot take the mail now, next to others that took it: it goes on as
        # a new message (its own retries), for a retry of the whole recipient would deliver
        # the others again. (Postfix retries the whole recipient; its duplicates are ours to
        # avoid.) The reason of this first attempt shows in the new message's retries.
        later = [a for a, outs in members if outs and all(o.status == DEFERRED for o in outs)]
        kept = outcomes + [o for a, outs in members if a not in later for o in outs]
        if later and any(o.status != DEFERRED for o in kept):
            away += later
            members = [(a, outs) for a, outs in members if a not in later]
        outcomes += [o for _, outs in members for o in outs]
        if away:
            outcomes.append(self._forward(ctx, key, away))
        if not outcomes and looped:
            return [ctx.outcome("5.4.6", f"mail forwarding loop for {ctx.rcpt}")]
        return outcomes or [ctx.outcome("5.1.1", f'unknown user: "{key}"')]

    def _in_place(self, ctx: _Ctx, key: str, kind: str,
                  addresses: list[str]) -> tuple[list[str], list[str]]:
        """(addresses delivered here, addresses forwarded): an alias's local addresses stay
        here unless an owner- alias takes the bounces (forwarding changes the sender), or
        the nesting is too deep; a .forward's and an :include:'s always go."""
        if kind != "alias" or not addresses or ctx.depth >= _MAX_DEPTH:
            return [], addresses
        try:
            if self._owner(ctx, key) is not None:
                return [], addresses
        except TableError:
            return [], addresses  # _forward defers them, saying why; the rest stands
        origin = self.cfg.get("myorigin")
        here, away = [], []
        for address in addresses:
            qualified = address if "@" in address else f"{address}@{origin}"
            local = self._is_local_domain(split_address(qualified)[1])
            (here if local else away).append(qualified if local else address)
        return here, away

    def _owner(self, ctx: _Ctx, key: str) -> str | None:
        """owner-KEY@$myorigin when that alias exists (owner_request_special) and the mail
        has a sender to replace. Raises TableError."""
        if not ctx.req.envelope.sender or not self.cfg.bool("owner_request_special"):
            return None
        if self.maps.lookup("alias_maps", f"owner-{key}") is None:
            return None
        return f"owner-{key}@{self.cfg.get('myorigin')}"

    def _is_self(self, value: str, key: str) -> bool:
        """`\\user`, or an alias naming itself, means that user's own mailbox."""
        if value.startswith("\\"):
            return True
        local, domain = split_address(value)
        return local.lower() == key and (not domain or self._is_local_domain(domain))

    def _is_local_domain(self, domain: str) -> bool:
        return self.maps.domain_in("mydestination", domain)

    def _own_mailbox(self, ctx: _Ctx, user: str) -> Outcome:
        user = split_address(user)[0].lower()
        try:
            return self._mailbox(ctx, self._user(user))
        except KeyError:
            return ctx.outcome("5.1.1", f'unknown user: "{user}"')

    def _include(self, ctx: _Ctx, key: str, path: str, who: privs.Privs,
                 depth: int) -> list[Outcome]:
        if depth >= _MAX_DEPTH:
            return [ctx.outcome("5.4.6", f"mail forwarding loop for {ctx.rcpt}")]
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except OSError as e:
            return [ctx.outcome("4.3.0", f"cannot open include file {path}: {e.strerror}")]
        values = []
        for line in text.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                values += split_alias_values(line)
        return self._expand(ctx, key, values, "include", who, depth + 1)

    def _alias_privs(self) -> privs.Privs:
        """Commands and files from aliases run as the database owner, or default_privs."""
        for spec in self.cfg.list("alias_maps"):
            path = spec.partition(":")[2]
            try:
                uid = os.stat(path).st_uid
            except OSError:
                continue
            if uid != 0:
                try:
                    return privs.from_passwd(pwd.getpwuid(uid))
                except KeyError:
                    break
            break
        return privs.default_privs(self.cfg.get("default_privs"))

    def _read_forward(self, pw: pwd.struct_passwd, ext: str) -> list[str]:
        values = {"home": pw.pw_dir, "user": pw.pw_name, "extension": ext,
                  "recipient_delimiter": self.cfg.get("recipient_delimiter")[:1] if ext else ""}
        tried = set()
        for pieces in self._forward_path:
            # $home, $user, ${recipient_delimiter}, ${extension} (empty without an extension):
            # the odd pieces are the names
            path = "".join(values.get(p, "") if i % 2 else p for i, p in enumerate(pieces))
            if path in tried:  # the default list names $home/.forward twice without extension
                continue
            tried.add(path)
            text = _read_owned(path, pw.pw_uid)
            if text is not None:
                vals = []
                for line in text.splitlines():
                    if line.strip() and not line.lstrip().startswith("#"):
                        vals += split_alias_values(line)
                return vals
        return []

    # --- final deliveries --------------------------------------------------------------------
    def _headers(self, ctx: _Ctx, delivered: bool) -> bytes:
        """Delivered-To names the queue's recipient (an alias, for the addresses it names
        that are delivered in place), the address local(8)'s loop check compares."""
        orig = ctx.orig if self.cfg.bool("enable_original_recipient") else None
        return mailbox.delivery_headers(ctx.req.envelope.sender, orig,
                                        ctx.req.recipient.address if delivered else None)

    def _mailbox_path(self, pw: pwd.struct_passwd) -> tuple[str, bool]:
        """(the user's mailbox, whether it is in the home directory); a Maildir ends in `/`."""
        home_mailbox = self.cfg.get("home_mailbox")
        if home_mailbox:
            return os.path.join(pw.pw_dir, home_mailbox), True
        spool = self.cfg.get("mail_spool_directory")
        return os.path.join(spool.rstrip("/"), pw.pw_name) + ("/" if spool.endswith("/")
                                                               else ""), False

    def _mailbox(self, ctx: _Ctx, pw: pwd.struct_passwd) -> Outcome:
        who = privs.from_passwd(pw)
        if self.cfg.get("mailbox_command"):
            return self._command(ctx, self.cfg.get("mailbox_command"), "mailbox", who)
        path, in_home = self._mailbox_path(pw)
        return self._write(ctx, path, self._headers(ctx, True), who, in_home, pw.pw_name,
                           "mailbox")

    def _write(self, ctx: _Ctx, path: str, headers: bytes, who: privs.Privs, in_home: bool,
               user: str, what: str) -> Outcome:
        limit = self.cfg.size("mailbox_size_limit")
        runner = who if in_home else privs.current()
        owner = None if in_home else privs.owner_for(who)
        content = ctx.req.content
        if path.endswith("/"):
            try:
                privs.run_file_op(runner, "maildir", path, headers + content, limit=limit,
                                  owner=owner)
            except OSError as e:
                return self._maildir_error(ctx, path, e)
            return ctx.outcome("2.0.0", "delivered to maildir")  # a /dir/ alias too, as Postfix
        record = mailbox.mbox_record(ctx.req.envelope.sender, headers, content)
        strict = (who.uid if os.geteuid() == 0 else os.geteuid()) \
            if self.cfg.bool("strict_mailbox_ownership") and what == "mailbox" else None
        try:
            privs.run_file_op(runner, "mbox", path, record, limit=limit, owner=owner,
                              strict_uid=strict, devices=what != "mailbox",
                              locks=self.cfg.list("mailbox_delivery_lock"),
                              attempts=self.cfg.int("deliver_lock_attempts"),
                              delay=self.cfg.time("deliver_lock_delay"),
                              stale=self.cfg.time("stale_lock_time"))
        except (OSError, mailbox.LockError) as e:
            return self._mbox_error(ctx, path, user, e, what)
        return ctx.outcome("2.0.0", "delivered to mailbox" if what == "mailbox"
                           else f"delivered to file: {path}")

    @staticmethod
    def _mbox_error(ctx: _Ctx, path: str, user: str, e: Exception, what: str) -> Outcome:
        head = (f"cannot update mailbox {path} for user {user}." if what == "mailbox"
                else f"cannot append message to file {path}:")
        if isinstance(e, mailbox.LockError):
            return ctx.outcome("4.2.0", f"{head} {e}")
        assert isinstance(e, OSError)
        if e.strerror == mailbox.NOT_OWNED:
            return ctx.outcome("4.2.0", f"destination {path} is not owned by recipient")
        dsn = mailbox.file_error_dsn(e.errno, mailbox.BOUNCE_BY_DEFAULT)
        if dsn == "5.2.2":
            return ctx.outcome(dsn, f"{head} error writing message: {os.strerror(e.errno)}")
        return ctx.outcome(dsn, f"{head} cannot open file: {e.strerror}")

    @staticmethod
    def _maildir_error(ctx: _Ctx, path: str, e: OSError) -> Outcome:
        dsn = mailbox.file_error_dsn(e.errno, mailbox.RETRY_BY_DEFAULT)
        if dsn == "5.2.2":
            return ctx.outcome(dsn, f"maildir delivery failed: error writing message: "
                                    f"{os.strerror(e.errno)}")
        return ctx.outcome(dsn, f"maildir delivery failed: create maildir file {path}: "
                                f"{e.strerror}")

    def _file(self, ctx: _Ctx, path: str, kind: str, who: privs.Privs) -> Outcome:
        if kind not in self.cfg.list("allow_mail_to_files"):
            return ctx.outcome("5.7.1", "mail to file is restricted")
        delivered = "file" in self.cfg.list("prepend_delivered_header")
        return self._write(ctx, path, self._headers(ctx, delivered), who, True, who.name, "file")

    def _command(self, ctx: _Ctx, command: str, kind: str, who: privs.Privs) -> Outcome:
        if kind != "mailbox" and kind not in self.cfg.list("allow_mail_to_commands"):
            return ctx.outcome("5.7.1", "mail to command is restricted")
        env_ = ctx.req.envelope
        delivered = kind == "mailbox" or "command" in self.cfg.list("prepend_delivered_header")
        data = (mailbox.from_line(env_.sender) + self._headers(ctx, delivered)
                + ctx.req.content)
        env = command_env(who, env_, ctx.rcpt, ctx.orig, ctx.extension)
        dsn, text = run_command(who, command, data, env,
                                timeout=self.cfg.time("command_time_limit"),
                                size_limit=self.cfg.size("mailbox_size_limit"),
                                shell=self.cfg.get("local_command_shell"))
        return ctx.outcome(dsn, text)

    def _forward(self, ctx: _Ctx, key: str, addresses: list[str]) -> Outcome:
        if self.submit is None:
            return ctx.outcome("4.3.0", "forwarding is not available")
        origin = self.cfg.get("myorigin")
        env = ctx.req.envelope
        try:
            sender = self._owner(ctx, key) or env.sender
        except TableError as e:
            log.warning("local", str(e))
            return ctx.outcome("4.3.0", "alias database unavailable")
        rcpts = [Recipient(a if "@" in a else f"{a}@{origin}", ctx.orig) for a in addresses]
        new_env = Envelope(sender=sender, recipients=rcpts, arrival=env.arrival,
                           protocol=env.protocol, client_name=env.client_name,
                           client_addr=env.client_addr, helo=env.helo)
        content = ctx.req.content
        if "forward" in self.cfg.list("prepend_delivered_header"):
            # the queue's recipient, as every Delivered-To here: a copy that comes back to it
            # (a member's .forward naming its list) is then caught by the loop check
            content = hdr.make("Delivered-To", ctx.req.recipient.address) + content
        try:
            new_id = self.submit(new_env, content)
        except Exception as e:  # SubmitError (a reject) or a queue write error
            reply = getattr(e, "reply", None)
            dsn = reply.dsn if reply is not None and reply.dsn else "4.3.0"
            return ctx.outcome(dsn, f"cannot forward message: {e}")
        return ctx.outcome("2.0.0", f"forwarded as {new_id}")

    @staticmethod
    def _looped(content: bytes, address: str) -> bool:
        end = content.find(b"\n\n")
        if b"delivered-to:" not in content[:end if end >= 0 else None].lower():
            return False  # the common case, without parsing the header
        msg = hdr.split(content)
        wanted = address.lower()
        return any(hdr.name_of(h) == "delivered-to" and hdr.value_of(h).lower() == wanted
                   for h in msg.headers)


_VARIABLE = re.compile(r"\$\{?(\w+)\}?")  # in forward_path


def _split(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[,\s]+", value) if v.strip()]


def _read_owned(path: str, uid: int) -> str | None:
    """A .forward file owned by the user (or root), read without following a symlink. Only
    a regular file counts: a FIFO put there would otherwise block the reader (O_NONBLOCK
    lets the open return at once)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, encoding="utf-8", errors="surrogateescape") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid not in (uid, 0):
            return None
        return f.read()
