"""Lifecycle of the server process: pid file, listeners, signals, reload, graceful stop.

One process runs every smtpd service of master.cf. A reload (SIGHUP) checks the new
configuration first and refuses it, keeping the old one, when it has a problem; otherwise new
connections get the new snapshot while sessions in progress finish on the one they started
with (SmtpService asks its `context` callable once per connection). Unchanged listeners stay
open, new ones are opened, removed ones closed. SIGTERM closes the listeners and gives open
sessions affix_stop_grace_time to finish.

With affix_workers > 1 the same Server runs in two roles (workers.py): the master (pid file,
signals, the queue manager that scans the queues and delivers what workers hand it; no
listeners) and N workers (listeners with SO_REUSEPORT, smtpd, cleanup, and a queue manager for
the mail they deliver themselves while the master's is behind). The master forwards SIGHUP and
SIGTERM, so reload and stop behave as above in every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from affix import __version__, log
from affix.check import Checked, ConfigProblems, check_config
from affix.cleanup.service import Cleanup
from affix.config.errors import ConfigError
from affix.config.mastercf import MasterService
from affix.config.snapshot import Config
from affix.dns.resolver import Resolver
from affix.pickup import Pickup
from affix.pidfile import AlreadyRunning, acquire_pid_file, pid_path, running_pid
from affix.policy.engine import RestrictionEngine
from affix.qmgr.manager import QueueManager
from affix.queue.store import QueueStore
from affix.smtpd.server import SessionContext, SmtpService
from affix.tables import TableCache, TableError
from affix.tables.matchlist import MatchList

ListenKey = tuple[tuple[str, ...] | None, int]


# --- what one configuration snapshot runs on -------------------------------------------------

@dataclass(frozen=True)
class Runtime:
    """The parts shared by every service of one snapshot: tables, resolver, queue, cleanup and
    the queue manager. A reload builds a new Runtime; sessions keep the one they started on."""

    tables: TableCache
    resolver: Resolver
    cleanup: Cleanup
    qmgr: QueueManager


def build_runtime(cfg: Config, sessions: bool = True,
                  flush_master: Callable[[], None] | None = None,
                  behind: Callable[[QueueManager, bool], None] | None = None) -> Runtime:
    """`sessions`: this process also serves SMTP (the queue manager must never block it).
    `flush_master` (a worker's) and `behind` (the master's): see QueueManager."""
    store = QueueStore(cfg.get("queue_directory"), cfg.bool("enable_long_queue_ids"))
    tables = open_tables(cfg)
    cleanup = Cleanup(cfg, store)
    qmgr = QueueManager(cfg, store, cleanup=cleanup, inline_io=not sessions,
                        flush_master=flush_master, behind=behind)
    cleanup.notify = qmgr.wake  # 250 means on disk; then the queue manager looks at once
    return Runtime(tables, Resolver.from_config(cfg), cleanup, qmgr)


def worker_count(cfg: Config) -> int:
    """affix_workers, with 0 meaning one per CPU core."""
    n = cfg.int("affix_workers")
    return n if n > 0 else (os.cpu_count() or 1)


def open_tables(cfg: Config) -> TableCache:
    """The sessions' lookup tables of a snapshot (a reload opens them again); what happens to
    them is logged as smtpd's, as Postfix's smtpd logs its own tables. cleanup keeps its
    header/body_checks tables apart (and logs them as cleanup's)."""
    return TableCache(cfg, program="smtpd")


def make_session_context(cfg: Config, svc: MasterService, runtime: Runtime) -> SessionContext:
    """What sessions of one service get, built once per snapshot (not per connection)."""
    svc_cfg = svc.config(cfg)
    engine = RestrictionEngine(svc_cfg, runtime.tables, runtime.resolver)
    engine.startup_check()
    return SessionContext(cfg=svc_cfg, policy=engine, cleanup=runtime.cleanup,
                          resolver=runtime.resolver, tables=runtime.tables,
                          etrn=etrn_flush(svc_cfg, runtime))


def etrn_flush(cfg: Config, runtime: Runtime) -> Callable[[str], Awaitable[bool]]:
    """ETRN DOMAIN (RFC 1985): for a domain in fast_flush_domains, the queue manager retries
    deferred mail now and smtpd says `250 Queuing started`; any other domain gets `459`, as
    Postfix's flush service refuses it. affix keeps no per-site logs: it retries the whole
    deferred queue, a superset of the domain's mail."""
    domains = MatchList(cfg, "fast_flush_domains", runtime.tables)

    async def etrn(domain: str) -> bool:
        try:
            allowed = domains.match_domain(domain)
        except TableError as e:
            log.warning("smtpd", f"fast_flush_domains: {e}")
            return False
        if allowed:
            runtime.qmgr.flush()
        return allowed

    return etrn


# --- pid file -------------------------------------------------------------------------------

def _claim_port(key: ListenKey, svc: MasterService) -> None:
    """MASTER: fail as one process would when another server listens on a service's address.
    The workers bind with SO_REUSEPORT, which the kernel grants beside any other socket of the
    same user that also asked for it (another affix with workers would share the port and
    take half its connections); a plain bind, tried and let go here, refuses that."""
    for host in key[0] or (None,):
        try:
            infos = socket.getaddrinfo(host, key[1], type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        except OSError:
            continue  # the workers report an address that does not resolve
        for family, kind, proto, _, address in infos:
            try:
                with contextlib.closing(socket.socket(family, kind, proto)) as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if family == socket.AF_INET6:
                        probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    probe.bind(address)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise _listen_error(svc, key, e) from e
                # anything else (no IPv6 on this host, an address not on it): the workers
                # meet it too and say so, or skip that address as one process would


def _listen_error(svc: MasterService, key: ListenKey, e: OSError) -> ConfigError:
    where = ",".join(key[0]) if key[0] else "*"
    return ConfigError(f"service {svc.name}: cannot listen on {where} port {key[1]}: "
                       f"{e.strerror or e}", svc.path, svc.line)


def make_directories(cfg: Config) -> None:
    """data_directory and queue_directory with its layout, created when missing: before the
    server says it started, so that nothing (a sendmail, a queue tool) finds half a queue."""
    for name in ("data_directory", "queue_directory"):
        path = cfg.get(name)
        try:
            os.makedirs(path, exist_ok=True)
            if name == "queue_directory":
                QueueStore(path).ensure_dirs()
        except OSError as e:
            raise ConfigError(f"{name}: cannot create {e.filename or path}: {e.strerror}",
                              *cfg.position(name)) from None


# --- logging --------------------------------------------------------------------------------

def build_log(cfg: Config, foreground: bool) -> log.MailLog:
    """maillog_file if set; else stderr in the foreground, DATA_DIR/maillog in the background;
    and syslog as well when affix_syslog = yes (smtp-and-logs.md §4)."""
    path = cfg.get("maillog_file") or None
    if path is None and not foreground:
        path = os.path.join(cfg.get("data_directory"), "maillog")
    return log.MailLog(syslog_name=cfg.get("syslog_name"), hostname=cfg.get("myhostname"),
                       stream=sys.stderr if foreground and path is None else None, path=path,
                       use_syslog=cfg.bool("affix_syslog"),
                       facility=cfg.get("syslog_facility"))


def log_warnings(checked: Checked) -> None:
    """Configuration warnings (unused parameters, skipped services) go to the mail log, the
    place named as Postfix's daemons name it (`FILE, line N:`)."""
    for w in checked.warnings:
        log.warning("master", f"{w.file}, line {w.line}: {w.message}" if w.line else
                    f"{w.file}: {w.message}")


def config_label(config_dir: str | None) -> str:
    return config_dir or "(built-in)"


# --- the server -----------------------------------------------------------------------------

ALL, MASTER, WORKER = "all", "master", "worker"  # what a Server process does


class Server:
    def __init__(self, config_dir: str | None, checked: Checked, foreground: bool = True,
                 role: str = ALL, flush_master: Callable[[], None] | None = None,
                 queued: Callable[[str], None] | None = None):
        self.config_dir = config_dir
        self.foreground = foreground
        self.checked = checked
        self.role = role
        self.flush_master = flush_master  # WORKER: asks the master's queue manager to flush
        self.queued = queued  # WORKER: decides who delivers a committed queue id
        self.listeners: dict[ListenKey, SmtpService] = {}
        self.contexts: dict[ListenKey, SessionContext] = {}
        self.stopped = asyncio.Event()
        self.runtime = self._runtime(checked.cfg)
        self.pool: Any = None  # MASTER: the WorkerPool (workers.py)
        self._qmgr_task: asyncio.Task[None] | None = None
        self.pickup: Pickup | None = None  # not in a WORKER: the master picks up
        self._background: set[asyncio.Task[None]] = set()
        self._reloading = False
        self._stopping = False

    def _runtime(self, cfg: Config) -> Runtime:
        runtime = build_runtime(cfg, sessions=self.role != MASTER,
                                flush_master=self.flush_master,
                                behind=self._behind if self.role == MASTER else None)
        if self.queued is not None:
            runtime.cleanup.notify = self.queued
        return runtime

    def _plan(self, checked: Checked,
              runtime: Runtime) -> dict[ListenKey, tuple[MasterService, SessionContext]]:
        plan = {}
        for svc in checked.services:
            hosts = svc.listen_hosts(checked.cfg)
            key = (tuple(hosts) if hosts is not None else None, svc.port)
            plan[key] = (svc, make_session_context(checked.cfg, svc, runtime))
        return plan

    async def _open(self, keys: list[ListenKey],
                    plan: dict[ListenKey, tuple[MasterService, SessionContext]]) -> None:
        """Bind the given listeners; on a failure close the ones this call opened."""
        opened: list[ListenKey] = []
        try:
            for key in keys:
                svc = plan[key][0]
                service = SmtpService(svc.name, list(key[0]) if key[0] else None, key[1],
                                      self._context_for(key), reuse_port=self.role == WORKER)
                try:
                    await service.start()
                except OSError as e:
                    raise _listen_error(svc, key, e) from e
                self.listeners[key] = service
                opened.append(key)
        except ConfigError:
            for key in opened:
                self.listeners.pop(key).stop_listening()
            raise

    def _context_for(self, key: ListenKey) -> Callable[[], SessionContext]:
        return lambda: self.contexts[key]

    async def start(self) -> None:
        plan = self._plan(self.checked, self.runtime)  # the master checks it all too
        if self.role != MASTER:
            self.contexts = {key: ctx for key, (_, ctx) in plan.items()}
            await self._open(list(plan), plan)
        if self.role == MASTER:
            for key, (svc, _) in plan.items():
                _claim_port(key, svc)
        self._qmgr_task = asyncio.ensure_future(self.runtime.qmgr.run())
        if self.role != WORKER:
            self.pickup = Pickup(self.checked.cfg.get("queue_directory"),
                                 lambda: (self.checked.cfg, self.runtime.cleanup))
            self.pickup.start()
        if self.role == MASTER:
            from affix.workers import WorkerPool

            self.pool = WorkerPool(self.config_dir, worker_count(self.checked.cfg),
                                   self.foreground, queued=self.wake, flush=self.flush,
                                   died=lambda: self.runtime.qmgr.orphans())
            try:
                await self.pool.start()
            except ConfigError:
                if self.pickup is not None:
                    await self.pickup.stop()
                await self._stop_qmgr()
                raise

    def wake(self, queue_id: str) -> None:
        """A worker committed QUEUE_ID and leaves it to the current queue manager."""
        self.runtime.qmgr.wake(queue_id)

    def _behind(self, qmgr: QueueManager, behind: bool) -> None:
        """MASTER: the queue manager is behind (workers deliver their own mail) or not; what
        one that a reload replaced says no longer counts."""
        if self.pool is not None and qmgr is self.runtime.qmgr:
            self.pool.tell_all("BEHIND" if behind else "KEEPING UP")

    async def _switch_qmgr(self, old: Runtime, new: Runtime) -> None:
        """The new queue manager starts at once, while the old one finishes its deliveries
        (their claims keep the two apart, qmgr/manager.py) and hands over what it was told of
        but did not start on."""
        old_task, self._qmgr_task = self._qmgr_task, None
        if not self._stopping and self.runtime is new:
            self._qmgr_task = asyncio.ensure_future(new.qmgr.run())
            self._behind(new.qmgr, new.qmgr.behind)
        for qid in await old.qmgr.stop():
            self.runtime.qmgr.wake(qid)
        if old_task is not None:
            await asyncio.gather(old_task, return_exceptions=True)

    async def _stop_qmgr(self) -> None:
        await self.runtime.qmgr.stop()  # deliveries in progress finish; messages stay queued
        if self._qmgr_task is not None:
            await asyncio.gather(self._qmgr_task, return_exceptions=True)

    def flush(self) -> None:
        """SIGUSR1 (`affix flush`), or a worker's ETRN: retry the deferred queue now."""
        self.runtime.qmgr.flush()

    def look_at_incoming(self) -> None:
        """SIGUSR2 (sendmail, queue release/requeue): new mail in incoming (or maildrop);
        deferred mail keeps its backoff."""
        self.runtime.qmgr.wake()
        if self.pickup is not None:
            self.pickup.wake()

    async def reload(self) -> None:
        """Re-read main.cf and master.cf; refuse (and log why) when the new one is bad."""
        if self._reloading:
            return
        self._reloading = True
        try:
            await self._reload()
        except Exception as e:  # a bug must not take the running server down with it
            log.error("master", f"reload failed, keeping the running configuration: {e!r}")
        finally:
            self._reloading = False

    async def _reload(self) -> None:
        loop = asyncio.get_running_loop()
        new: list[ListenKey] = []
        try:
            checked = await loop.run_in_executor(None, check_config, self.config_dir)
            runtime = await loop.run_in_executor(None, self._runtime, checked.cfg)
            plan = self._plan(checked, runtime)
            if self.role == MASTER:
                plan = {}  # the workers listen; each reloads itself
            new = [k for k in plan if k not in self.listeners]
            self.contexts.update({key: plan[key][1] for key in new})  # nobody uses them yet
            await self._open(new, plan)
        except ConfigError as e:
            for key in new:
                self.contexts.pop(key, None)
            for line in str(e).splitlines():
                log.reload_refused(line)
            return
        old, self.runtime, self.checked = self.runtime, runtime, checked
        self._spawn(self._switch_qmgr(old, runtime))
        self.contexts.update({key: ctx for key, (_, ctx) in plan.items()})
        for key in [k for k in self.listeners if k not in plan]:
            self._retire(key, checked.cfg)
        log.set_log(build_log(checked.cfg, self.foreground))
        if self.role == WORKER:
            return  # the master logs the warnings and the reload once
        if self.pool is not None:
            self.pool.signal(signal.SIGHUP)
        log_warnings(checked)
        log.reloading(__version__, config_label(self.config_dir))

    def _retire(self, key: ListenKey, cfg: Config) -> None:
        """A removed service: stop listening now, let its sessions finish in the background."""
        service = self.listeners.pop(key)
        service.stop_listening()
        task = asyncio.ensure_future(service.drain(cfg.time("affix_stop_grace_time")))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def shutdown(self, signum: int | None = None) -> None:
        if self._stopping:
            return
        self._stopping = True
        if signum is not None:
            log.terminating_on_signal(signum)
        for service in self.listeners.values():
            service.stop_listening()
        grace = self.checked.cfg.time("affix_stop_grace_time")
        others = self._background - {asyncio.current_task()}  # not this shutdown task itself
        await asyncio.gather(*(s.drain(grace) for s in self.listeners.values()),
                             *others, return_exceptions=True)
        if self.pool is not None:
            await self.pool.stop()  # each worker drains its sessions as above
        if self.pickup is not None:
            await self.pickup.stop()
        await self._stop_qmgr()
        self.stopped.set()

    def install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload()))
        loop.add_signal_handler(signal.SIGUSR1, self.flush)
        loop.add_signal_handler(signal.SIGUSR2, self.look_at_incoming)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda s=signum: self._spawn(self.shutdown(s)))

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_server(config_dir: str | None, checked: Checked, foreground: bool,
               ready: Callable[[str], None] = lambda message: None) -> int:
    """Run until stopped. `ready` gets "ok" once listening, else the error (exit status 1)."""
    cfg = checked.cfg
    try:
        make_directories(cfg)
        pid_fd = acquire_pid_file(pid_path(cfg))
    except (ConfigError, AlreadyRunning, OSError) as e:
        ready(str(e))
        return 1
    try:
        log.set_log(build_log(cfg, foreground))
        with asyncio.Runner(loop_factory=_new_loop) as runner:
            return runner.run(_serve(config_dir, checked, foreground, ready))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(pid_path(cfg))
        os.close(pid_fd)


async def _serve(config_dir: str | None, checked: Checked, foreground: bool,
                 ready: Callable[[str], None]) -> int:
    try:
        role = MASTER if worker_count(checked.cfg) > 1 else ALL
        server = Server(config_dir, checked, foreground, role)
        await server.start()
    except ConfigError as e:
        for line in str(e).splitlines():  # several problems: a log line each
            log.fatal("master", line)
        ready(str(e))
        return 1
    server.install_signals()
    log_warnings(server.checked)
    log.daemon_started(__version__, config_label(server.config_dir))
    ready("ok")
    await server.stopped.wait()
    return 0


__all__ = ["ALL", "MASTER", "WORKER", "AlreadyRunning", "ConfigProblems", "Runtime", "Server",
           "build_runtime", "worker_count",
           "make_session_context", "open_tables", "run_server", "running_pid", "pid_path"]
