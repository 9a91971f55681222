"""The queue manager: incoming -> active -> delivery agents, deferred retries, lifetimes.

It runs inside the server process. At start it removes incoming files that were never
completed (store.recover) and resumes every message left in `active` (a crash or stop in the
middle of a delivery); the deferred queue is scanned every queue_run_delay for messages whose
next-attempt time (the file's mtime) has come. A message is removed only after each recipient's
outcome is recorded in the queue file, and any non-delivery notice has been queued.

With affix_workers > 1 every worker process runs a queue manager too, for mail its own cleanup
commits while the master's is behind (workers.py decides who delivers what). Only the master's
scans the queues: incoming (mail from elsewhere, and mail a stopping worker left), deferred,
and active for messages whose worker died. Queue managers tell their messages apart by an
exclusive flock on the queue file, held from the claim (store.claim) until the message leaves
active; the kernel drops a dead process's locks, so a message in active without one is an
orphan.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from affix import log
from affix.cleanup.service import Cleanup
from affix.config.snapshot import Config
from affix.delivery import bounce
from affix.delivery.agent import BOUNCED, DEFERRED, SENT, Agent, DeliveryRequest, Outcome
from affix.delivery.maps import DeliveryMaps
from affix.delivery.syncs import Syncs
from affix.offload import MASTER_LIMIT, SESSIONS_LIMIT, Offload
from affix.qmgr.route import Router
from affix.queue import qfile
from affix.queue.closer import Closer
from affix.queue.envelope import Recipient
from affix.queue.store import QueueStore
from affix.tables.base import TableError

_ACTIVE_LIMIT = 100  # messages delivered at once (Postfix's qmgr_message_active_limit is 20000)
# messages in hand at which the queue manager reports that it is behind, and back below which
# it reports that it keeps up again (the `behind` callback; see workers.py)
BEHIND_AT, CAUGHT_UP_AT = 8, 2


@dataclass
class _Attempt:
    """One attempt at a message: its times, and its claim on the queue file."""

    arrival: float
    activated: float
    queue: str  # where the message is when the attempt begins: incoming, deferred or active
    flushes: int = 0  # the manager's flush count when this attempt began
    resumed: bool = False  # found in active with no process working on it
    lock_fd: int = -1  # the queue file, open and locked (store.claim) while this works on it
    busy: bool = False  # somebody else held it: not taken

    @property
    def from_incoming(self) -> bool:
        return self.queue == "incoming"

    def release(self, closer: Closer) -> None:
        """Let the file go; a removed file's last close (it frees the inode, which can wait
        for the disk) goes through `closer`."""
        fd, self.lock_fd = self.lock_fd, -1
        if fd < 0:
            return
        try:
            removed = os.fstat(fd).st_nlink == 0
        except OSError:
            removed = False
        if removed:
            closer.close(fd)
        else:
            os.close(fd)


def default_agents(cfg: Config, cleanup: Cleanup | None, maps: DeliveryMaps | None = None,
                   offload: Offload | None = None, syncs: Syncs | None = None) -> dict[str, Agent]:
    # imported here: a server that has not delivered anything yet does not carry them
    from affix.delivery.error import ErrorAgent
    from affix.delivery.local import LocalAgent
    from affix.delivery.smtp import SmtpAgent
    from affix.delivery.virtual import VirtualAgent

    submit = cleanup.submit_sync if cleanup is not None else None
    maps = maps if maps is not None else DeliveryMaps(cfg)
    return {"local": LocalAgent(cfg, submit, maps, offload, syncs),
            "virtual": VirtualAgent(cfg, maps), "smtp": SmtpAgent(cfg), "error": ErrorAgent(cfg)}


def backoff(age: float, minimal: float, maximal: float) -> float:
    """smtp-and-logs / cleanup-and-delivery.md §5: clamp(age, minimal, maximal)."""
    return min(max(age, minimal), maximal)


class QueueManager:
    def __init__(self, cfg: Config, store: QueueStore, agents: dict[str, Agent] | None = None,
                 cleanup: Cleanup | None = None, inline_io: bool = False,
                 flush_master: Callable[[], None] | None = None,
                 behind: Callable[[QueueManager, bool], None] | None = None):
        """flush_master: set in a worker process, whose queue manager delivers only what
        wake() announces and leaves the scans (and so flushes) to the master's.
        behind: told (this manager, True) when BEHIND_AT messages are in hand, (this
        manager, False) when that is down to CAUGHT_UP_AT again."""
        self.cfg = cfg
        self._flush_master = flush_master
        self._behind_cb = behind
        self.behind = False
        # The queue's own file work (read, rename, mark, remove: short, bounded syscalls) and
        # plain Maildir deliveries run on the loop while they take little time (affix/offload.py);
        # inline_io: a process without SMTP sessions (the master of affix_workers).
        self._inline_io = inline_io
        self._io: Callable[..., Awaitable[Any]] = self._new_offload().run
        self.store = store
        self.cleanup = cleanup if cleanup is not None else Cleanup(cfg, store)
        # one set of open tables for routing and the agents (a table file is opened once)
        self.maps = DeliveryMaps(cfg)
        self._agents = agents  # None: the default agents, made at the first delivery
        self.router = Router(self.maps)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._stopping = False
        self._flush = False  # affix flush: retry every deferred message, due or not
        self._flushes = 0
        # a deferred message is due now: look at deferred again (and at once after a start or
        # a reload, for what fell due meanwhile; the others keep their backoff)
        self._due_now = True
        self._scan_incoming = True  # ... and at the whole incoming queue
        self._scan_active = False  # ... and at active, for messages a dead worker left
        self._new: list[str] = []  # queue ids cleanup has just committed
        self._left: list[str] = []  # ... that a stop came before this one started on
        self._inflight: dict[str, asyncio.Task] = {}
        self._dest_sems: dict[tuple[str, str], asyncio.Semaphore] = {}
        self._slots = asyncio.Semaphore(_ACTIVE_LIMIT)
        # the deliveries' fsyncs, timed apart from the rest of their work
        self._syncs = Syncs(self._new_offload())
        self._runner: asyncio.Task | None = None
        self._closer = Closer(self._new_offload())  # timed apart from the other queue work

    @property
    def agents(self) -> dict[str, Agent]:
        if self._agents is None:
            self._agents = default_agents(self.cfg, self.cleanup, self.maps,
                                          self._new_offload(),  # timed apart from queue work
                                          self._syncs)
        return self._agents

    def _new_offload(self) -> Offload:
        if self._inline_io:
            return Offload(MASTER_LIMIT, on_loop_first=True)
        return Offload(SESSIONS_LIMIT)

    # --- control -----------------------------------------------------------------------------
    def wake(self, queue_id: str | None = None) -> None:
        """New mail in incoming: QUEUE_ID when the caller knows it (cleanup does), else look at
        the whole incoming queue. Safe to call from any thread."""
        loop, event = self._loop, self._event
        if loop is None or event is None:
            if queue_id is not None:  # not running yet (a reload's new one): run() takes it
                self._new.append(queue_id)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._arrived(queue_id)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._arrived, queue_id)

    def _arrived(self, queue_id: str | None) -> None:
        if queue_id is None:
            self._scan_incoming = True
        else:
            self._new.append(queue_id)
        assert self._event is not None
        self._event.set()

    def flush(self) -> None:
        """Attempt every deferred message now (affix flush, SIGUSR1, ETRN)."""
        self._flushes += 1  # an attempt in progress now defers to "due now" (see _defer)
        if self._flush_master is not None:
            self._flush_master()
            return
        self._flush = True
        self.wake()

    def _look_again(self) -> None:
        """A due message in deferred that another process still held (a worker, for the
        moment between deferring it and letting it go, or a queue tool) is looked at again
        in a second."""
        def due() -> None:
            self._due_now = True
            self.wake()

        asyncio.get_running_loop().call_later(1.0, due)

    async def stop(self) -> list[str]:
        """Stop taking work; let deliveries in progress finish (their messages stay safe).
        Returns the queue ids announced by wake() that it did not start on (still in
        incoming: for the queue manager that takes over)."""
        self._stopping = True
        self.wake()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        left, self._new, self._left = self._new + self._left, [], []
        return left

    def _report(self, behind: bool) -> None:
        if behind != self.behind and self._behind_cb is not None:
            self.behind = behind
            self._behind_cb(self, behind)

    def orphans(self) -> None:
        """A worker process died: take over the messages it left in active."""
        self._scan_active = True
        self.wake()

    def idle(self) -> bool:
        """No message being worked on (tests and `affix stop` use this)."""
        return not self._inflight

    # --- the main loop -----------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._runner = asyncio.current_task()
        if self._flush_master is not None:
            await self._run_announced()
            return
        await self._io(self.store.recover)
        await self._take_active()
        last_deferred_scan = last_incoming_scan = 0.0
        run_delay = self.cfg.time("queue_run_delay")
        poll = max(0.05, self.cfg.time("affix_incoming_poll_time"))
        while not self._stopping:
            # mail that no wake-up announced (queue tools, sendmail, a stopping worker's):
            # every `poll`, however busy the wake-ups keep this loop
            if self._scan_incoming or time.monotonic() - last_incoming_scan >= poll:
                self._scan_incoming = False
                last_incoming_scan = time.monotonic()
                self._new.clear()  # the scan finds them too
                await self._take_incoming()
            else:
                self._take_announced()
            now = time.time()
            if self._flush or self._due_now or now - last_deferred_scan >= run_delay:
                flush, self._flush, self._due_now = self._flush, False, False
                await self._take_deferred(ignore_time=flush)
                # and active: an orphan whose lock something else still held when last
                # looked at is taken now
                self._scan_active = True
                last_deferred_scan = now
            if self._scan_active:
                self._scan_active = False
                await self._take_active()
            timeout = max(0.05, min(last_incoming_scan + poll - time.monotonic(),
                                    last_deferred_scan + run_delay - time.time()))
            if not self._event.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event.wait(), timeout)
            self._event.clear()

    async def _run_announced(self) -> None:
        """A worker's queue manager: the messages wake() names, nothing else."""
        assert self._event is not None
        while not self._stopping:
            self._take_announced()
            await self._event.wait()
            self._event.clear()

    def _take_announced(self) -> None:
        ids, self._new = self._new, []
        for qid in ids:
            self._claim(qid)

    async def _take_active(self) -> None:
        """Messages in active that no process works on: left by a server that stopped (or a
        worker that died) in the middle of their delivery."""
        for qid in await self._io(lambda: list(self.store.iterate("active"))):
            if qid not in self._inflight:
                self._start(qid, _Attempt(0.0, time.time(), "active", resumed=True))

    async def _take_incoming(self) -> None:
        for qid in await self._io(lambda: list(self.store.iterate("incoming"))):
            self._claim(qid)

    def _claim(self, qid: str) -> None:
        """Start work on a new message (moved incoming -> active by its task)."""
        if qid not in self._inflight:
            self._start(qid, _Attempt(0.0, time.time(), "incoming"))

    def _take(self, qid: str, attempt: _Attempt) -> qfile.QueuedMessage | None:
        """Claim a message and move it into active (one thread hop); None when it went to
        hold, is gone, or is somebody else's. Raises QueueFileError for a damaged file."""
        queue = attempt.queue
        try:
            claimed = self.store.claim(queue, qid)
        except FileNotFoundError:
            return None  # moved or deleted meanwhile (hold, queue tools, another process)
        if claimed is None:
            # not durable yet (its writer wakes us once it is), or another queue manager or
            # a queue tool works on it
            attempt.busy = True
            return None
        attempt.lock_fd, msg = claimed
        if attempt.resumed:
            log.qmgr_resumed(qid)
        if queue == "active":
            return msg
        if queue == "incoming" and msg.held:
            self.store.move(qid, "incoming", "hold")
            return None
        self.store.move(qid, queue, "active", durable=queue != "incoming")
        return msg

    async def _take_deferred(self, ignore_time: bool) -> None:
        now = time.time()
        for qid in await self._io(lambda: list(self.store.iterate("deferred"))):
            if qid in self._inflight:
                continue
            try:
                due = await self._io(self.store.next_attempt, "deferred", qid)
            except FileNotFoundError:
                continue
            if ignore_time or due <= now:
                self._start(qid, _Attempt(0.0, time.time(), "deferred"))

    def _start(self, qid: str, attempt: _Attempt) -> None:
        attempt.flushes = self._flushes
        task = asyncio.create_task(self._guarded(qid, attempt))
        self._inflight[qid] = task
        if len(self._inflight) >= BEHIND_AT:
            self._report(True)

    async def _guarded(self, qid: str, attempt: _Attempt) -> None:
        try:
            async with self._slots:
                if not self._stopping or not attempt.from_incoming:
                    await self._process(qid, attempt)
                else:
                    self._left.append(qid)
        except FileNotFoundError:
            pass  # removed or moved by the queue tools while we worked on it
        except Exception as e:  # never lose the loop over one message: retry it later
            log.qmgr_warning(f"{qid}: delivery attempt failed: {e}")
            await self._retry_later(qid)
        finally:
            attempt.release(self._closer)
            self._inflight.pop(qid, None)
            if len(self._inflight) <= CAUGHT_UP_AT:
                self._report(False)

    async def _retry_later(self, qid: str) -> None:
        """After an unexpected failure (e.g. a notice cleanup refused), back to deferred."""
        delay = self.cfg.time("minimal_backoff_time")
        with contextlib.suppress(OSError):
            await self._io(self.store.move, qid, "active", "deferred",
                                    time.time() + delay)

    # --- one message -------------------------------------------------------------------------
    async def _process(self, qid: str, attempt: _Attempt) -> None:
        try:
            msg = await self._io(self._take, qid, attempt)
        except qfile.QueueFileError as e:
            log.qmgr_warning(f"{e}; moved to the corrupt queue")
            await self._io(self.store.quarantine, attempt.queue, qid)
            return
        if msg is None:
            if attempt.busy and attempt.queue == "deferred":
                self._look_again()
            return
        attempt.activated = time.time()
        env = msg.envelope
        attempt.arrival = env.arrival
        pending = msg.pending()
        size = msg.size + msg.content.count(b"\n")  # stored size plus one byte per line (§4)
        log.qmgr_active(qid, env.sender, size, len(pending))
        if len(pending) == 1:  # most mail: no task and gathering future per message
            results = {pending[0]: await self._deliver(msg, pending[0], attempt)}
        else:
            results = dict(zip(pending, await asyncio.gather(
                *(self._deliver(msg, i, attempt) for i in pending)), strict=True))
        traced = await self._trace_successes(msg, results)
        if all(_overall(o) == SENT for o in results.values()) and not traced:
            # the common case in one thread hop: mark every recipient, remove the file (let go
            # by _guarded at once after this, so that a new message may take it as a spare)
            if await self._io(self._all_sent, msg, list(results), attempt.lock_fd):
                log.qmgr_removed(qid)
                return
        else:
            await self._record(msg, results)
        await self._finish(msg, attempt)

    def _all_sent(self, msg: qfile.QueuedMessage, indexes: list[int], fd: int) -> bool:
        """Record the deliveries (through `fd`, the claim's); remove the message when
        nothing is left to do (True)."""
        last = len(indexes) == len(msg.pending())
        if last and (os.path.exists(self.store.log_path("bounce", msg.queue_id))
                     or any(bounce.wanted(r.notify, bounce.DELIVERED)
                            for r in msg.envelope.recipients if r.notify)):
            last = False  # an earlier attempt bounced or delivered with a notice due
        self.store.mark_many("active", msg, {i: qfile.DELIVERED for i in indexes},
                             durable=not last, fd=fd)
        if last:
            self.store.delete("active", msg.queue_id, durable=False, size=msg.size)
        return last

    async def _deliver(self, msg: qfile.QueuedMessage, index: int,
                       attempt: _Attempt) -> list[Outcome]:
        rcpt = msg.envelope.recipients[index]
        if msg.envelope.filter:  # a FILTER action: the mail must not go round the filter
            return self._not_handed(msg, rcpt, attempt, f"{msg.queue_id}: content filter "
                                    f"{msg.envelope.filter}: affix cannot hand mail to a "
                                    "content filter; the message waits in the queue",
                                    "mail transport unavailable")
        try:
            agent = self.agents[self.router.transport(rcpt.address)]
        except TableError as e:
            return self._not_handed(msg, rcpt, attempt, str(e), "address resolver failure")
        key = (agent.name, agent.destination(rcpt.address))
        sem = self._dest_sems.get(key)
        if sem is None:
            sem = self._dest_sems[key] = asyncio.Semaphore(agent.concurrency())
        async with sem:
            handed = time.time()
            req = DeliveryRequest(msg.queue_id, msg.envelope, rcpt, msg.content)
            try:
                outcomes = await agent.deliver(req)
            except Exception as e:  # a bug in an agent defers, it never loses mail
                outcomes = [Outcome(rcpt.address, DEFERRED, "4.3.0",
                                    f"delivery agent failure: {e!r}", agent.name,
                                    rcpt.original)]
        outcomes = await self._durable(outcomes)  # the next delivery need not wait for this
        done = time.time()
        resolution = self.cfg.int("delay_logging_resolution_limit")
        a = attempt.activated - attempt.arrival  # all time before this entry to active
        b = handed - attempt.arrival - a
        for o in outcomes:
            log.delivery_status(agent.name, msg.queue_id, o.to, o.orig_to, o.relay,
                                done - attempt.arrival, (a, b, 0.0, done - handed), o.dsn,
                                o.status, o.text, resolution)
        return outcomes

    async def _durable(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Make the new Maildir entries of deliveries made on this loop durable (one fsync
        per directory for all deliveries of the round); one that cannot be is deferred."""
        unsynced = {o.unsynced for o in outcomes if o.unsynced}
        if not unsynced:
            return outcomes
        failed = await self._syncs.dirs(unsynced)
        return [o.with_unsynced("") if o.unsynced not in failed else
                Outcome(o.to, DEFERRED, "4.3.0", f"maildir delivery failed: sync "
                        f"{o.unsynced}: {failed[o.unsynced].strerror}", o.relay, o.orig_to)
                for o in outcomes]

    def _not_handed(self, msg: qfile.QueuedMessage, rcpt: Recipient, attempt: _Attempt,
                    warning: str, why: str) -> list[Outcome]:
        """The recipient cannot go to any agent now: mydestination or virtual_mailbox_domains
        could not be searched (Postfix's qmgr: the address resolver failed), or the message
        is for a content filter; it is deferred, with a warning."""
        log.qmgr_warning(warning)
        outcome = Outcome(rcpt.address, DEFERRED, "4.3.0", why, "none", rcpt.original)
        now = time.time()
        a = attempt.activated - attempt.arrival
        log.delivery_status("error", msg.queue_id, outcome.to, outcome.orig_to, outcome.relay,
                            now - attempt.arrival, (a, now - attempt.arrival - a, 0.0, 0.0),
                            outcome.dsn, outcome.status, outcome.text,
                            self.cfg.int("delay_logging_resolution_limit"))
        return [outcome]

    async def _trace_successes(self, msg: qfile.QueuedMessage,
                               results: dict[int, list[Outcome]]) -> bool:
        """Deliveries to recipients that asked for a success notice (NOTIFY=SUCCESS) go to the
        trace log, which _finish reports from; True when there was one."""
        traced = False
        for index, outcomes in results.items():
            rcpt = msg.envelope.recipients[index]
            if not rcpt.notify or not bounce.wanted(rcpt.notify, bounce.DELIVERED):
                continue
            for o in outcomes:
                if o.status == SENT:
                    await self._io(self.store.append_log, "trace", msg.queue_id,
                                   _as_failure(o, rcpt).record())
                    traced = True
        return traced

    async def _record(self, msg: qfile.QueuedMessage, results: dict[int, list[Outcome]]) -> None:
        """Write each recipient's outcome: bounce log first, then the status byte."""
        for index, outcomes in results.items():
            status = _overall(outcomes)
            rcpt = msg.envelope.recipients[index]
            for o in outcomes:
                if o.status == BOUNCED:
                    await self._io(self.store.append_log, "bounce", msg.queue_id,
                                   _as_failure(o, rcpt).record())
                elif o.status == DEFERRED:
                    # under the queue's recipient (an alias's member was deferred for it):
                    # mailq, delay warnings and expiry look the reason up by that address
                    await self._io(self.store.append_log, "defer", msg.queue_id,
                                   _as_failure(o, rcpt, under_rcpt=True).record(), False)
            if status != DEFERRED:
                mark = qfile.BOUNCED if status == BOUNCED else qfile.DELIVERED
                await self._io(self.store.mark, "active", msg, index, mark)

    async def _finish(self, msg: qfile.QueuedMessage, attempt: _Attempt) -> None:
        qid, env = msg.queue_id, msg.envelope
        if msg.pending():
            age = time.time() - env.arrival
            lifetime = self.cfg.time("bounce_queue_lifetime" if not env.sender
                                     else "maximal_queue_lifetime")
            if not (msg.force_expired or age >= lifetime):
                await self._defer(msg, age, attempt)
                return
            log.qmgr_expired(qid, env.sender, forced=msg.force_expired)
            await self._expire_pending(msg)
        for kind, log_kind in ((bounce.FAILED, "bounce"), (bounce.DELIVERED, "trace")):
            reported = [f for f in map(bounce.Failure.from_record,
                                       await self._io(self.store.read_log, log_kind, qid))
                        if bounce.wanted(f.notify, kind)]
            if reported:
                await self._notify(msg, reported, kind)
        await self._io(self.store.delete, "active", qid, False)
        log.qmgr_removed(qid)

    async def _defer(self, msg: qfile.QueuedMessage, age: float, attempt: _Attempt) -> None:
        """To deferred, due after the backoff; due now if a flush came while it was being
        tried, up to the moment it is back in deferred (that flush's pass over deferred could
        not see it)."""
        warn_after = self.cfg.time("delay_warning_time")
        if warn_after > 0 and age >= warn_after and not msg.warned and msg.envelope.sender:
            reasons = _last_reasons(await self._io(self.store.read_log, "defer",
                                                            msg.queue_id))
            pending = [msg.envelope.recipients[i] for i in msg.pending()]
            failures = [reasons.get(r.address, bounce.Failure(r.address, r.original, "4.0.0",
                                                              "delivery temporarily suspended",
                                                              "", r.notify, r.orcpt))
                        for r in pending if bounce.wanted(r.notify, bounce.DELAYED)]
            if failures:
                await self._notify(msg, failures, bounce.DELAYED)
            await self._io(self.store.set_flag, "active", msg, qfile.FLAG_WARNED, "W")
        flushed = attempt.flushes != self._flushes
        delay = 0.0 if flushed else backoff(age, self.cfg.time("minimal_backoff_time"),
                                            self.cfg.time("maximal_backoff_time"))
        await self._io(self.store.move, msg.queue_id, "active", "deferred",
                                time.time() + delay)
        if not flushed and attempt.flushes != self._flushes:  # one came during the move
            flushed = True
            await self._io(self.store.set_next_attempt, "deferred", msg.queue_id, time.time())
        if self._flush_master is not None and flushed:
            self._flush_master()  # the master's pass over deferred takes it
        elif flushed:  # a pass over deferred that takes what is due (not a new flush)
            self._due_now = True
            self.wake()

    async def _expire_pending(self, msg: qfile.QueuedMessage) -> None:
        """Every recipient still pending gets its last deferral reason as a failure."""
        reasons = _last_reasons(await self._io(self.store.read_log, "defer",
                                                        msg.queue_id))
        for index in msg.pending():
            r = msg.envelope.recipients[index]
            f = reasons.get(r.address, bounce.Failure(r.address, r.original, "4.4.7",
                                                      "message expired", "", r.notify, r.orcpt))
            await self._io(self.store.append_log, "bounce", msg.queue_id, f.record())
            await self._io(self.store.mark, "active", msg, index, qfile.BOUNCED)

    async def _notify(self, msg: qfile.QueuedMessage, failures: list[bounce.Failure],
                      kind: str) -> None:
        env = msg.envelope
        if not env.sender:
            log.bounce_discarded(msg.queue_id, env.sender)  # never bounce a bounce (RFC 3464)
            return
        notice_env, content = bounce.build_notice(self.cfg, msg.queue_id, env, msg.content,
                                                  failures, kind)
        new_id = await self.cleanup.submit(notice_env, content)
        log.bounce_notice(msg.queue_id, _NOTICE_NAMES[kind], new_id)


def _overall(outcomes: list[Outcome]) -> str:
    statuses = {o.status for o in outcomes}
    if DEFERRED in statuses:
        return DEFERRED
    return SENT if SENT in statuses else BOUNCED


_NOTICE_NAMES = {bounce.FAILED: "non-delivery", bounce.DELAYED: "delay",
                 bounce.DELIVERED: "delivery status"}


def _as_failure(o: Outcome, rcpt: Recipient, under_rcpt: bool = False) -> bounce.Failure:
    """An outcome as the logs keep it, with the DSN wishes of the recipient it was for;
    `under_rcpt`: named by that queue recipient rather than the address delivered to."""
    to, orig = (rcpt.address, rcpt.original or o.orig_to) if under_rcpt else (o.to, o.orig_to)
    return bounce.Failure(to, orig, o.dsn, o.text, o.relay, rcpt.notify, rcpt.orcpt)


def _last_reasons(lines: list[tuple[str, ...]]) -> dict[str, bounce.Failure]:
    return {f.recipient: f for f in map(bounce.Failure.from_record, lines)}
