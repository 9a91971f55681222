"""The queue manager: incoming -> active -> delivery agents, deferred retries, lifetimes.

It runs inside the server process. At start it removes incoming files that were never
completed (store.recover) and resumes every message left in `active` (a crash or stop in the
middle of a delivery); the deferred queue is scanned every queue_run_delay for messages whose
next-attempt time (the file's mtime) has come. A message is removed only after each recipient's
outcome is recorded in the queue file, and any non-delivery notice has been queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from affix import log
from affix.cleanup.service import Cleanup
from affix.config.snapshot import Config
from affix.delivery import bounce
from affix.delivery.agent import BOUNCED, DEFERRED, SENT, Agent, DeliveryRequest, Outcome
from affix.delivery.local import LocalAgent
from affix.delivery.maps import DeliveryMaps
from affix.delivery.smtp import SmtpAgent
from affix.delivery.virtual import VirtualAgent
from affix.qmgr.route import Router
from affix.queue import qfile
from affix.queue.envelope import Recipient
from affix.queue.store import QueueStore
from affix.tables.base import TableError

_ACTIVE_LIMIT = 100  # messages delivered at once (Postfix's qmgr_message_active_limit is 20000)


@dataclass
class _Timing:
    arrival: float
    activated: float
    from_incoming: bool


def default_agents(cfg: Config, cleanup: Cleanup | None,
                   maps: DeliveryMaps | None = None) -> dict[str, Agent]:
    submit = cleanup.submit_sync if cleanup is not None else None
    maps = maps if maps is not None else DeliveryMaps(cfg)
    return {"local": LocalAgent(cfg, submit, maps), "virtual": VirtualAgent(cfg, maps),
            "smtp": SmtpAgent(cfg)}


def backoff(age: float, minimal: float, maximal: float) -> float:
    """smtp-and-logs / cleanup-and-delivery.md §5: clamp(age, minimal, maximal)."""
    return min(max(age, minimal), maximal)


class QueueManager:
    def __init__(self, cfg: Config, store: QueueStore, agents: dict[str, Agent] | None = None,
                 cleanup: Cleanup | None = None):
        self.cfg = cfg
        self.store = store
        self.cleanup = cleanup if cleanup is not None else Cleanup(cfg, store)
        # one set of open tables for routing and the agents (a table file is opened once)
        self.maps = DeliveryMaps(cfg)
        self.agents = (agents if agents is not None
                       else default_agents(cfg, self.cleanup, self.maps))
        self.router = Router(self.maps)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._stopping = False
        self._flush = True  # the first pass looks at the whole deferred queue
        self._inflight: dict[str, asyncio.Task] = {}
        self._dest_sems: dict[tuple[str, str], asyncio.Semaphore] = {}
        self._slots = asyncio.Semaphore(_ACTIVE_LIMIT)
        self._runner: asyncio.Task | None = None

    # --- control -----------------------------------------------------------------------------
    def wake(self) -> None:
        """New mail in incoming (safe to call from any thread)."""
        loop, event = self._loop, self._event
        if loop is None or event is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def flush(self) -> None:
        """Attempt every deferred message now (affix flush, SIGUSR1)."""
        self._flush = True
        self.wake()

    async def stop(self) -> None:
        """Stop taking work; let deliveries in progress finish (their messages stay safe)."""
        self._stopping = True
        self.wake()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    def idle(self) -> bool:
        """No message being worked on (tests and `affix stop` use this)."""
        return not self._inflight

    # --- the main loop -----------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._runner = asyncio.current_task()
        await asyncio.to_thread(self.store.recover)
        for qid in await asyncio.to_thread(lambda: list(self.store.iterate("active"))):
            log.qmgr_resumed(qid)  # left by a server that died mid-delivery
            self._start(qid, _Timing(0.0, time.time(), False))
        last_deferred_scan = 0.0
        run_delay = self.cfg.time("queue_run_delay")
        poll = max(0.05, self.cfg.time("affix_incoming_poll_time"))
        while not self._stopping:
            await self._take_incoming()
            now = time.time()
            if self._flush or now - last_deferred_scan >= run_delay:
                await self._take_deferred(ignore_time=self._flush)
                self._flush = False
                last_deferred_scan = now
            timeout = min(poll, max(0.05, last_deferred_scan + run_delay - time.time()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
            self._event.clear()

    async def _take_incoming(self) -> None:
        for qid in await asyncio.to_thread(lambda: list(self.store.iterate("incoming"))):
            if qid in self._inflight:
                continue
            try:
                flags = await asyncio.to_thread(self._peek_flags, "incoming", qid)
                target = "hold" if flags[qfile.FLAG_HOLD] == "H" else "active"
                await asyncio.to_thread(self.store.move, qid, "incoming", target)
            except (FileNotFoundError, qfile.QueueFileError):
                continue  # moved or deleted meanwhile (hold, queue tools)
            if target == "active":
                self._start(qid, _Timing(0.0, time.time(), True))

    def _peek_flags(self, queue: str, qid: str) -> str:
        return self.store.read(queue, qid, header_only=True).flags

    async def _take_deferred(self, ignore_time: bool) -> None:
        now = time.time()
        for qid in await asyncio.to_thread(lambda: list(self.store.iterate("deferred"))):
            if qid in self._inflight:
                continue
            try:
                due = await asyncio.to_thread(self.store.next_attempt, "deferred", qid)
                if not ignore_time and due > now:
                    continue
                await asyncio.to_thread(self.store.move, qid, "deferred", "active")
            except FileNotFoundError:
                continue
            self._start(qid, _Timing(0.0, time.time(), False))

    def _start(self, qid: str, timing: _Timing) -> None:
        task = asyncio.create_task(self._guarded(qid, timing))
        self._inflight[qid] = task

    async def _guarded(self, qid: str, timing: _Timing) -> None:
        try:
            async with self._slots:
                await self._process(qid, timing)
        except FileNotFoundError:
            pass  # removed or moved by the queue tools while we worked on it
        except Exception as e:  # never lose the loop over one message: retry it later
            log.qmgr_warning(f"{qid}: delivery attempt failed: {e}")
            await self._retry_later(qid)
        finally:
            self._inflight.pop(qid, None)

    async def _retry_later(self, qid: str) -> None:
        """After an unexpected failure (e.g. a notice cleanup refused), back to deferred."""
        delay = self.cfg.time("minimal_backoff_time")
        with contextlib.suppress(OSError):
            await asyncio.to_thread(self.store.move, qid, "active", "deferred",
                                    time.time() + delay)

    # --- one message -------------------------------------------------------------------------
    async def _process(self, qid: str, timing: _Timing) -> None:
        try:
            msg = await asyncio.to_thread(self.store.read, "active", qid)
        except qfile.QueueFileError as e:
            log.qmgr_warning(f"{e}; moved to the corrupt queue")
            await asyncio.to_thread(self.store.quarantine, "active", qid)
            return
        env = msg.envelope
        timing.arrival = env.arrival
        pending = msg.pending()
        size = msg.size + msg.content.count(b"\n")  # stored size plus one byte per line (§4)
        log.qmgr_active(qid, env.sender, size, len(pending))
        results = await asyncio.gather(*(self._deliver(msg, i, timing) for i in pending))
        await self._record(msg, dict(zip(pending, results, strict=True)))
        await self._finish(msg)

    async def _deliver(self, msg: qfile.QueuedMessage, index: int,
                       timing: _Timing) -> list[Outcome]:
        rcpt = msg.envelope.recipients[index]
        try:
            agent = self.agents[self.router.transport(rcpt.address)]
        except TableError as e:
            return self._unresolved(msg, rcpt, timing, e)
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
            done = time.time()
        resolution = self.cfg.int("delay_logging_resolution_limit")
        a = (timing.activated - timing.arrival) if timing.from_incoming else 0.0
        b = handed - timing.arrival - a
        for o in outcomes:
            log.delivery_status(agent.name, msg.queue_id, o.to, o.orig_to, o.relay,
                                done - timing.arrival, (a, b, 0.0, done - handed), o.dsn,
                                o.status, o.text, resolution)
        return outcomes

    def _unresolved(self, msg: qfile.QueuedMessage, rcpt: Recipient, timing: _Timing,
                    error: TableError) -> list[Outcome]:
        """mydestination or virtual_mailbox_domains could not be searched: the recipient is
        deferred, as Postfix's qmgr does when the address resolver fails."""
        log.qmgr_warning(str(error))
        outcome = Outcome(rcpt.address, DEFERRED, "4.3.0", "address resolver failure", "none",
                          rcpt.original)
        now = time.time()
        a = (timing.activated - timing.arrival) if timing.from_incoming else 0.0
        log.delivery_status("error", msg.queue_id, outcome.to, outcome.orig_to, outcome.relay,
                            now - timing.arrival, (a, now - timing.arrival - a, 0.0, 0.0),
                            outcome.dsn, outcome.status, outcome.text,
                            self.cfg.int("delay_logging_resolution_limit"))
        return [outcome]

    async def _record(self, msg: qfile.QueuedMessage, results: dict[int, list[Outcome]]) -> None:
        """Write each recipient's outcome: bounce log first, then the status byte."""
        for index, outcomes in results.items():
            status = _overall(outcomes)
            for o in outcomes:
                if o.status == BOUNCED:
                    await asyncio.to_thread(self.store.append_log, "bounce", msg.queue_id,
                                            (o.to, o.orig_to, o.dsn, o.text, o.relay))
                elif o.status == DEFERRED:
                    await asyncio.to_thread(self.store.append_log, "defer", msg.queue_id,
                                            (o.to, o.orig_to, o.dsn, o.text, o.relay), False)
            if status != DEFERRED:
                mark = qfile.BOUNCED if status == BOUNCED else qfile.DELIVERED
                await asyncio.to_thread(self.store.mark, "active", msg, index, mark)

    async def _finish(self, msg: qfile.QueuedMessage) -> None:
        qid, env = msg.queue_id, msg.envelope
        if msg.pending():
            age = time.time() - env.arrival
            lifetime = self.cfg.time("bounce_queue_lifetime" if not env.sender
                                     else "maximal_queue_lifetime")
            if not (msg.force_expired or age >= lifetime):
                await self._defer(msg, age)
                return
            log.qmgr_expired(qid, env.sender, forced=msg.force_expired)
            await self._expire_pending(msg)
        failures = await asyncio.to_thread(self.store.read_log, "bounce", qid)
        if failures:
            await self._notify(msg, [_failure(f) for f in failures], bounce.FAILED)
        await asyncio.to_thread(self.store.delete, "active", qid)
        log.qmgr_removed(qid)

    async def _defer(self, msg: qfile.QueuedMessage, age: float) -> None:
        warn_after = self.cfg.time("delay_warning_time")
        if warn_after > 0 and age >= warn_after and not msg.warned and msg.envelope.sender:
            reasons = _last_reasons(await asyncio.to_thread(self.store.read_log, "defer",
                                                            msg.queue_id))
            pending = [msg.envelope.recipients[i] for i in msg.pending()]
            failures = [reasons.get(r.address, bounce.Failure(r.address, r.original, "4.0.0",
                                                              "delivery temporarily suspended"))
                        for r in pending]
            await self._notify(msg, failures, bounce.DELAYED)
            await asyncio.to_thread(self.store.set_flag, "active", msg, qfile.FLAG_WARNED, "W")
        delay = backoff(age, self.cfg.time("minimal_backoff_time"),
                        self.cfg.time("maximal_backoff_time"))
        await asyncio.to_thread(self.store.move, msg.queue_id, "active", "deferred",
                                time.time() + delay)

    async def _expire_pending(self, msg: qfile.QueuedMessage) -> None:
        """Every recipient still pending gets its last deferral reason as a failure."""
        reasons = _last_reasons(await asyncio.to_thread(self.store.read_log, "defer",
                                                        msg.queue_id))
        for index in msg.pending():
            r = msg.envelope.recipients[index]
            f = reasons.get(r.address, bounce.Failure(r.address, r.original, "4.4.7",
                                                      "message expired"))
            await asyncio.to_thread(self.store.append_log, "bounce", msg.queue_id,
                                    (f.recipient, f.original, f.status, f.reason, f.relay))
            await asyncio.to_thread(self.store.mark, "active", msg, index, qfile.BOUNCED)

    async def _notify(self, msg: qfile.QueuedMessage, failures: list[bounce.Failure],
                      kind: str) -> None:
        env = msg.envelope
        if not env.sender:
            log.bounce_discarded(msg.queue_id, env.sender)  # never bounce a bounce (RFC 3464)
            return
        notice_env, content = bounce.build_notice(self.cfg, msg.queue_id, env, msg.content,
                                                  failures, kind)
        new_id = await self.cleanup.submit(notice_env, content)
        log.bounce_notice(msg.queue_id, "delay" if kind == bounce.DELAYED else "non-delivery",
                          new_id)


def _overall(outcomes: list[Outcome]) -> str:
    statuses = {o.status for o in outcomes}
    if DEFERRED in statuses:
        return DEFERRED
    return SENT if SENT in statuses else BOUNCED


def _failure(fields: tuple[str, ...]) -> bounce.Failure:
    to, orig, dsn, text, relay = (tuple(fields) + ("",) * 5)[:5]
    return bounce.Failure(to, orig, dsn, text, relay)


def _last_reasons(lines: list[tuple[str, ...]]) -> dict[str, bounce.Failure]:
    return {f.recipient: f for f in map(_failure, lines)}
