"""pickup: local submissions into the queue, as Postfix's pickup.

`affix sendmail` run by root (or by anyone who may write the queue) hands its message to
cleanup itself; any other user leaves it in maildrop/ (queue/maildrop.py) and the server's
pickup takes it in: at start, when poked through public/pickup, on SIGUSR2, and every
INTERVAL seconds in case a poke went missing. Both ways end in submit_local(): cleanup as a
local submission (pickup's Received header and `uid=` log line), and a message that cleanup
refuses for good goes back to its sender, as Postfix's pickup returns it.

A file is removed once its message is queued; a crash between the two queues it again at the
next start (a duplicate, as with Postfix). A file cleanup refuses for a while (4xx) stays
for the next look, and the files after it go on. Anything else a user leaves in maildrop/
(other names, links, directories, damaged files) is removed with a warning, as Postfix's
pickup removes it: maildrop/ is anyone's to write, so nothing there is trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from affix import log
from affix.ascii import printable
from affix.cleanup.service import INTERNAL, LOCAL, Cleanup, SubmitError
from affix.config.snapshot import Config
from affix.delivery import bounce
from affix.queue import maildrop
from affix.queue.envelope import Envelope, Recipient
from affix.reply import Reply
from affix.smtpd.args import ArgError, parse_notify

INTERVAL = 60.0  # seconds between looks when nobody pokes (Postfix's pickup: the same)


def submit_local(cfg: Config, cleanup: Cleanup, envelope: Envelope, content: bytes,
                 uid: int | None = None) -> str:
    """Queue a local user's message; returns its queue id. A 5xx from cleanup returns the
    message to its sender (cleanup-and-delivery.md §1); a 4xx raises SubmitError."""
    try:
        return cleanup.submit_sync(envelope, content, LOCAL, uid)
    except SubmitError as e:
        if e.reply.is_temporary:
            raise
        _bounce(cfg, cleanup, e.queue_id, envelope, content, e.reply)
        return e.queue_id


def _bounce(cfg: Config, cleanup: Cleanup, queue_id: str, env: Envelope, content: bytes,
            reply: Reply) -> None:
    dsn = reply.dsn or "5.0.0"
    for r in env.recipients:
        log.delivery_status("cleanup", queue_id, r.address, "", "none", 0.0,
                            (0.0, 0.0, 0.0, 0.0), dsn, "bounced", reply.text)
    if not env.sender:
        log.bounce_discarded(queue_id, env.sender)
        return
    failures = [bounce.Failure(r.address, r.original or r.address, dsn, reply.text, "",
                               r.notify, r.orcpt)
                for r in env.recipients if bounce.wanted(r.notify, bounce.FAILED)]
    if not failures:  # -N never (or success/delay only): nobody asked to hear of it
        return
    notice_env, notice = bounce.build_notice(cfg, queue_id, env, content, failures)
    log.bounce_notice(queue_id, "non-delivery", cleanup.submit_sync(notice_env, notice,
                                                                    INTERNAL))


def trusted_envelope(dropped: maildrop.Dropped) -> Envelope:
    """What a user may set with sendmail's options, and nothing more: the sender, the
    recipients with NOTIFY, RET, ENVID and the body type. The arrival time is the file's
    (maildrop.read)."""
    env = dropped.envelope
    if not env.recipients:
        raise maildrop.MaildropError("no recipients")
    return Envelope(
        printable(env.sender),
        [Recipient(printable(r.address), printable(r.original), notify=_notify(r.notify))
         for r in env.recipients],
        arrival=dropped.arrival,
        body_type=env.body_type if env.body_type in ("7BIT", "8BITMIME") else "",
        ret=env.ret if env.ret in ("FULL", "HDRS") else "",
        envid=printable(env.envid))


def _notify(value: str) -> str:
    try:
        return parse_notify(value) if value else ""
    except ArgError:
        return ""


class Pickup:
    """The server's side of maildrop/. `current` gives the configuration snapshot and cleanup
    to use now (a reload changes them)."""

    def __init__(self, root: str, current: Callable[[], tuple[Config, Cleanup]]):
        self.root = root
        self.current = current
        self._event = asyncio.Event()
        self._fds: list[int] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False  # read by take_all's thread: stop between two files
        self._stuck: set[str] = set()  # queued, but the file would not go

    def start(self) -> None:
        """Make maildrop/ and the FIFO, listen on it, look at once. A failure is logged and
        leaves pickup off: root's submissions do not need it."""
        try:
            maildrop.ensure(self.root)
            fifo = os.path.join(self.root, maildrop.PUBLIC, maildrop.PICKUP_FIFO)
            self._fds.append(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
            # our own writer keeps the FIFO from reading as end-of-file (ready for ever)
            # whenever no sendmail has it open
            self._fds.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as e:
            log.warning("pickup", f"submissions by users other than root are off: "
                                  f"{maildrop.MAILDROP}/: {e.strerror or e}")
            self._close()
            return
        asyncio.get_running_loop().add_reader(self._fds[0], self._poked)
        self._task = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        self._event.set()

    def _poked(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self._fds[0], 4096):
                pass
        self._event.set()

    async def stop(self) -> None:
        self._stopping = True
        if self._fds:
            asyncio.get_running_loop().remove_reader(self._fds[0])
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._close()

    def _close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    async def _run(self) -> None:
        while True:
            self._event.clear()
            try:
                await asyncio.to_thread(self.take_all)
            except Exception as e:  # noqa: BLE001 - a bug must not end local submission
                log.error("pickup", f"internal error: {e!r}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._event.wait(), INTERVAL)

    def take_all(self) -> None:
        """Queue every complete maildrop file, oldest first. A file cleanup cannot take now
        (4xx) waits for the next look, and the others go on; an entry that is no message is
        removed with a warning (as Postfix's pickup removes it); a problem of the system
        (no file descriptors, a full disk) ends this look."""
        cfg, cleanup = self.current()
        try:
            ready, strays = maildrop.names(self.root)
        except OSError as e:
            log.warning("pickup", f"{maildrop.MAILDROP}/: {e.strerror or e}")
            return
        for name in strays:
            self._remove(name, None, "not a name sendmail gives its files")
        for name in ready:
            if self._stopping:
                return  # the rest waits for the next start, where it is safe
            if name in self._stuck:
                continue
            try:
                dropped = maildrop.read(self.root, name, cfg.size("message_size_limit"))
                envelope = trusted_envelope(dropped)
            except FileNotFoundError:
                continue
            except maildrop.MaildropError as e:
                self._remove(name, None, str(e))
                continue
            except maildrop.Busy as e:
                log.warning("pickup", f"{maildrop.MAILDROP}/{name}: {e}; trying again later")
                return
            try:
                submit_local(cfg, cleanup, envelope, dropped.content, dropped.uid)
            except SubmitError as e:  # this message only: the others may go
                log.warning("pickup", f"{maildrop.MAILDROP}/{name}: uid={dropped.uid}: "
                                      f"not queued now, trying again later: {e}")
                continue
            except OSError as e:
                log.warning("pickup", f"{maildrop.MAILDROP}/{name}: uid={dropped.uid}: "
                                      f"not queued now, trying again later: "
                                      f"{e.strerror or e}")
                return
            self._remove(name, dropped.uid, None)

    def _remove(self, name: str, uid: int | None, why: str | None) -> None:
        """Remove a queued file (no `why`), or one that is no message, with a warning that
        names it safely (a user chose the name)."""
        shown = printable(name)[:100]
        if why is not None:
            log.warning("pickup", f"{maildrop.MAILDROP}/{shown}: {why}; removed")
        try:
            maildrop.remove(self.root, name)
        except OSError as e:
            log.warning("pickup", f"{maildrop.MAILDROP}/{shown}: cannot remove: "
                                  f"{e.strerror or e}")
            if uid is not None:  # queued already: not again while this process runs
                self._stuck.add(name)
