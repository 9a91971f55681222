"""Worker processes (affix_workers > 1): more than one core for SMTP.

Python runs one thread of Python code at a time, so one process is bound to one core. With
affix_workers = N the master (daemon.py, role MASTER) keeps the pid file and the signals, runs
the queue manager that scans the queues (deferred retries, mail from elsewhere), and starts N
workers (`python -m affix.workers`). Each worker is a Server in role WORKER: it checks the
configuration itself, binds every listener of master.cf with SO_REUSEPORT (the kernel spreads
new connections over the workers), and runs smtpd and cleanup into the shared queue directory.

Who delivers what a worker accepted: the master's queue manager while it keeps up, the worker's
own while the master's is behind. With few sessions the master delivers on a core the sessions
leave free, so a worker's next session never waits for a delivery; under load, a single master
would fall further and further behind, so each worker delivers its own mail on its own core
(and reads no file another process wrote). qmgr/manager.py says how the queue managers keep out
of each other's way.

Master and worker talk over a SOCK_SEQPACKET socket pair, in records:
  worker -> master: `READY` (listening), `ERROR text` (could not start), `Q id id ...` (queue
  files committed in one turn of the worker's loop, for the master's queue manager), `FLUSH` (a
  client's ETRN: the master's queue manager retries the deferred queue);
  master -> worker: `BEHIND` and `KEEPING UP` (its queue manager's state; a worker delivers its
  own mail while the master is behind); end-of-file means the master is gone, and the worker
  stops.
The master forwards SIGHUP (each worker reloads itself, keeping its sessions) and SIGTERM
(each worker stops listening and drains its sessions for affix_stop_grace_time), and starts a
new worker when one dies unexpectedly; its queue manager takes over what the dead one left in
the middle of delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable

from affix import log
from affix.config.errors import ConfigError

_RESPAWN_DELAY = 1.0  # seconds before a worker that died is replaced


class Worker:
    """The master's handle on one worker process."""

    def __init__(self, index: int):
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None
        self.sock: socket.socket | None = None
        self.ready: asyncio.Future[str] | None = None


class WorkerPool:
    def __init__(self, config_dir: str | None, count: int, foreground: bool,
                 queued: Callable[[str], None], flush: Callable[[], None],
                 died: Callable[[], None]):
        """queued: a worker hands over a queue id; flush: a worker asked for a flush; died: a
        worker exited (its messages in active are orphans now)."""
        self.config_dir = config_dir
        self.count = count
        self.foreground = foreground
        self.queued = queued
        self.flush = flush
        self.died = died
        self._state = "KEEPING UP"  # the last state told, and told to each new worker
        self.workers = [Worker(i) for i in range(count)]
        self._stopping = False
        self._watchers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start every worker and wait until each listens; ConfigError (after stopping the
        others) when one cannot."""
        answers = await asyncio.gather(*(self._spawn(w) for w in self.workers))
        failed = [a for a in answers if a != "READY"]
        if failed:
            await self.stop()
            raise ConfigError(failed[0].removeprefix("ERROR ") or "a worker did not start")

    async def _spawn(self, worker: Worker) -> str:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        worker.sock = ours
        worker.ready = loop.create_future()
        try:
            worker.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "affix.workers", self.config_dir or "-",
                str(theirs.fileno()), "1" if self.foreground else "0",
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL, env=_env())
        finally:
            theirs.close()
        loop.add_reader(ours.fileno(), self._readable, worker)
        watcher = asyncio.ensure_future(self._watch(worker))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return await worker.ready

    def _readable(self, worker: Worker) -> None:
        assert worker.sock is not None
        while True:
            try:
                record = worker.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                record = b""
            if not record:  # the worker is gone; _watch deals with it
                self._close(worker)
                return
            self._record(worker, record.decode("utf-8", "replace"))

    def _record(self, worker: Worker, text: str) -> None:
        if text.startswith("Q "):
            for qid in text[2:].split():
                self.queued(qid)
        elif text == "FLUSH":
            self.flush()
        elif worker.ready is not None and not worker.ready.done():
            if text == "READY" and worker.sock is not None:
                _send(worker.sock, self._state)
            worker.ready.set_result(text)

    def tell_all(self, state: str) -> None:
        """BEHIND or KEEPING UP, to every worker (a worker that misses it delivers as it did:
        either way every message is delivered)."""
        self._state = state
        for worker in self.workers:
            if worker.sock is not None and worker.ready is not None and worker.ready.done():
                _send(worker.sock, state)

    def _close(self, worker: Worker) -> None:
        if worker.sock is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(worker.sock.fileno())
            worker.sock.close()
            worker.sock = None
        if worker.ready is not None and not worker.ready.done():
            worker.ready.set_result("ERROR a worker process exited during start-up")

    async def _watch(self, worker: Worker) -> None:
        """Replace a worker that dies while the pool runs."""
        proc = worker.proc
        assert proc is not None
        status = await proc.wait()
        self._close(worker)
        self.died()
        if self._stopping or worker.ready is None or worker.ready.result() != "READY":
            return
        log.warning("master", f"worker process {proc.pid} exited with status {status}; "
                              "starting a new one")
        await asyncio.sleep(_RESPAWN_DELAY)
        if not self._stopping:
            answer = await self._spawn(worker)
            if answer != "READY":
                log.error("master", f"a new worker process did not start: {answer}")

    def signal(self, signum: int) -> None:
        for worker in self.workers:
            proc = worker.proc
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signum)

    async def stop(self) -> None:
        """SIGTERM every worker and wait until all have exited (they drain their sessions)."""
        self._stopping = True
        self.signal(signal.SIGTERM)
        await asyncio.gather(*(w.proc.wait() for w in self.workers if w.proc is not None),
                             return_exceptions=True)
        for worker in self.workers:
            self._close(worker)

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers if w.proc is not None]


def _env() -> dict[str, str]:
    """The worker imports this very affix, wherever the master was started from."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=here + (os.pathsep + path if path else ""))


# --- the worker process ------------------------------------------------------------------------

def _send(sock: socket.socket, text: str) -> bool:
    """False when the record could not go (the other end is gone, or its buffer is full)."""
    try:
        sock.send(text.encode("utf-8", "replace"), socket.MSG_DONTWAIT)
    except OSError:
        return False
    return True


class _Handover:
    """Cleanup's notify in a worker: hands each committed queue id to the master's queue manager
    (the ids of one turn of the loop in one record: a group commit releases several sessions at
    once), or to this worker's own while the master's is behind or cannot be told. Made on the
    worker's loop; callable from any thread (bounces and forwards are submitted from one)."""

    MAX_IDS = 200  # a record stays well under the master's 4096-byte reads

    def __init__(self, sock: socket.socket, own: Callable[[str], None]):
        self.sock = sock
        self.own = own
        self.master_behind = False
        self.ids: list[str] = []
        self.loop = asyncio.get_running_loop()
        # the loop's thread; not get_running_loop() per message: in Python 3.11 that costs a
        # getpid system call each time
        self._loop_thread = threading.get_ident()

    def __call__(self, qid: str) -> None:
        if threading.get_ident() != self._loop_thread:
            self.loop.call_soon_threadsafe(self, qid)
            return
        if self.master_behind:
            self.own(qid)
            return
        if not self.ids:
            self.loop.call_soon(self.flush)
        self.ids.append(qid)
        if len(self.ids) >= self.MAX_IDS:
            self.flush()

    def flush(self) -> None:
        ids, self.ids = self.ids, []
        if ids and not _send(self.sock, "Q " + " ".join(ids)):
            for qid in ids:
                self.own(qid)


class _FlushRequest:
    """A worker's queue manager asks the master's for a pass over deferred (ETRN). The worker
    delivers only what it accepted, so a request the master did not get would be a client's
    ETRN lost: a record that cannot go now (the master's buffer is full) goes again until it
    does, or until the worker stops (the master is gone)."""

    RETRY = 0.5  # seconds

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._pending: asyncio.TimerHandle | None = None

    def __call__(self) -> None:
        if self._pending is not None:
            return  # one request on its way covers them all
        if not _send(self.sock, "FLUSH"):
            self._pending = asyncio.get_running_loop().call_later(self.RETRY, self._again)

    def _again(self) -> None:
        self._pending = None
        self()


def main(argv: list[str]) -> int:
    """`python -m affix.workers CONFIG_DIR|- FD 1|0` (started by WorkerPool only)."""
    from affix.check import check_config
    from affix.daemon import build_log

    config_dir = None if argv[0] == "-" else argv[0]
    sock = socket.socket(fileno=int(argv[1]))
    foreground = argv[2] == "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the master decides (it forwards SIGTERM)
    try:
        checked = check_config(config_dir)
    except Exception as e:  # ConfigProblems or ConfigError: the master reports it
        problems = getattr(e, "problems", None)
        _send(sock, "ERROR " + ("\n".join(map(str, problems)) if problems else str(e)))
        return 1
    log.set_log(build_log(checked.cfg, foreground))
    from affix.daemon import _new_loop

    with asyncio.Runner(loop_factory=_new_loop) as runner:
        return runner.run(_serve(config_dir, checked, foreground, sock))


async def _serve(config_dir: str | None, checked, foreground: bool,  # noqa: ANN001
                 sock: socket.socket) -> int:
    from affix.daemon import WORKER, Server

    handover = _Handover(sock, lambda qid: server.runtime.qmgr.wake(qid))
    server = Server(config_dir, checked, foreground, WORKER,
                    flush_master=_FlushRequest(sock), queued=handover)
    try:
        await server.start()
    except ConfigError as e:
        _send(sock, "ERROR " + str(e))
        return 1
    server.install_signals()
    loop = asyncio.get_running_loop()
    loop.remove_signal_handler(signal.SIGINT)  # Ctrl-C in start-fg: the master decides
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock.setblocking(False)
    loop.add_reader(sock.fileno(), _from_master, server, sock, handover)
    _send(sock, "READY")
    await server.stopped.wait()
    return 0


def _from_master(server, sock: socket.socket, handover: _Handover) -> None:  # noqa: ANN001
    while True:
        try:
            record = sock.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            record = b""
        if not record:  # the master is gone
            asyncio.get_running_loop().remove_reader(sock.fileno())
            server._spawn(server.shutdown(signal.SIGTERM))
            return
        handover.master_behind = record == b"BEHIND"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
