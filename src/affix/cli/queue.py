"""`affix queue` (mailq / postsuper / postcat) and `affix flush` (postqueue -f).

  affix queue [list]                 the queue in mailq's format
  affix queue show ID                envelope and content of one message
  affix queue delete ID...|ALL [Q]   postsuper -d
  affix queue hold ID...|ALL [Q]     postsuper -h
  affix queue release ID...|ALL      postsuper -H
  affix queue requeue ID...|ALL [Q]  postsuper -r (the message gets a new queue id)
  affix queue expire ID...|ALL [Q]   postsuper -e (returned to the sender at the next attempt)
  affix flush                        attempt delivery of all deferred mail now

An ID of `-` stands for the ids on standard input (`... | affix queue delete -`).

The tools act on the queue files directly (the running server need not be up); a running
server (pid file DATA_DIR/affix.pid) is then told to look: SIGUSR1 after `flush`, SIGUSR2 (the
incoming queue only) after release and requeue. A message a queue manager
is delivering is acted on when that attempt is over (the tool takes the file's lock, as queue
managers do, waiting up to BUSY_WAIT seconds): a hold or requeue in the middle of a delivery
would otherwise let the message be delivered again later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable

from affix import log
from affix.cleanup.service import REQUEUE, Cleanup
from affix.cli.main import refuse_arguments
from affix.config.snapshot import Config, load_config
from affix.pidfile import pid_path, running_pid
from affix.queue import qfile
from affix.queue.envelope import Envelope
from affix.queue.ids import is_queue_id
from affix.queue.store import QueueStore

DEFAULT_QUEUES = ("hold", "incoming", "active", "deferred")  # postsuper's default set
BUSY_WAIT = 5.0  # seconds a tool waits for a delivery in progress to end
LIST_QUEUES = ("incoming", "active", "deferred", "hold")

USAGE = ("usage: affix queue [list | show ID | delete|hold|release|requeue|expire ID...|ALL "
         "[queue]]\n       affix flush\n")


def run(ctx, args: list[str]) -> int:
    refused = refuse_arguments(args, "usage: affix [-c DIR] flush\n") \
        if ctx.verb == "flush" else None
    if refused is not None:
        return refused
    cfg = load_config(ctx.config_dir)
    store = QueueStore(cfg.get("queue_directory"), cfg.bool("enable_long_queue_ids"))
    if ctx.verb == "flush":
        return flush(cfg, store)
    if not args or args[0] == "list":
        sys.stdout.write(listing(store, cfg.bool("enable_long_queue_ids")))
        return 0
    command, rest = args[0], args[1:]
    if command == "show" and len(rest) == 1:
        return show(store, rest[0])
    if command in _ACTIONS and rest:
        setup_log(cfg)
        return _bulk(cfg, store, command, rest)
    sys.stderr.write(USAGE)
    return 2


def setup_log(cfg: Config) -> None:
    """Queue tool (and sendmail) events go to the same mail log as the server's
    (maillog_file or DATA_DIR)."""
    path = cfg.get("maillog_file") or os.path.join(cfg.get("data_directory"), "maillog")
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "a"):
            pass
    except OSError:
        return
    log.set_log(log.MailLog(syslog_name=cfg.get("syslog_name"),
                            hostname=cfg.get("myhostname"), path=path))


# --- listing (mailq) ---------------------------------------------------------------------------

def listing(store: QueueStore, long_ids: bool) -> str:
    blocks, total, count = [], 0, 0
    for queue in LIST_QUEUES:
        for qid in sorted(store.iterate(queue)):
            try:
                msg = store.read(queue, qid)
            except (OSError, qfile.QueueFileError):
                continue
            size = msg.size + msg.content.count(b"\n")
            blocks.append(_entry(store, queue, msg, size, long_ids))
            total += size
            count += 1
    if not count:
        return "Mail queue is empty\n"
    if long_ids:
        head = "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n"
    else:
        head = "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
    plural = "Request" if count == 1 else "Requests"
    return head + "".join(blocks) + f"-- {total // 1024} Kbytes in {count} {plural}.\n"


def _entry(store: QueueStore, queue: str, msg: qfile.QueuedMessage, size: int,
           long_ids: bool) -> str:
    mark = {"active": "*", "hold": "!"}.get(queue, "")
    if msg.force_expired:
        mark = "#"
    stamp = time.asctime(time.localtime(msg.envelope.arrival))
    sender = msg.envelope.sender or "MAILER-DAEMON"
    if long_ids:
        line = f"{msg.queue_id + mark:<17s} {size:8d} {stamp:19.19s} {sender}\n"
    else:
        line = f"{msg.queue_id + mark:<11s} {size:7d} {stamp:20.20s} {sender}\n"
    indent = " " * (47 if long_ids else 41)  # mailq's fixed columns, whatever the size
    reasons = {f[0]: f[3] for f in store.read_log("defer", msg.queue_id) if len(f) > 3}
    out, last = [line], None
    for i in msg.pending():
        rcpt = msg.envelope.recipients[i].address
        reason = reasons.get(rcpt)
        if reason != last and (reason or last):
            text = reason or "reason unavailable"
            out.append(" " * max(0, 76 - len(text)) + f"({text})\n")
        last = reason
        out.append(indent + rcpt + "\n")
    return "".join(out) + "\n"


# --- show (postcat) ------------------------------------------------------------------------------

def show(store: QueueStore, qid: str) -> int:
    queue = store.find(qid)
    if queue is None:
        sys.stderr.write(f"affix queue: {qid}: no such message in the queue\n")
        return 1
    try:
        msg = store.read(queue, qid)
    except qfile.QueueFileError as e:
        sys.stderr.write(f"affix queue: {e}\n")
        return 1
    env = msg.envelope
    out = [f"*** ENVELOPE RECORDS {queue}/{qid} ***\n",
           f"message_arrival_time: {time.asctime(time.localtime(env.arrival))}\n",
           f"sender: {env.sender}\n"]
    for name in ("client_name", "client_addr", "helo", "protocol", "sasl_username"):
        if getattr(env, name):
            out.append(f"{name}: {getattr(env, name)}\n")
    for r, st in zip(env.recipients, msg.statuses, strict=True):
        state = {b"D": " (delivered)", b"B": " (bounced)"}.get(st, "")
        orig = f" (original: {r.original})" if r.original else ""
        out.append(f"recipient: {r.address}{orig}{state}\n")
    out.append("*** MESSAGE CONTENTS ***\n")
    sys.stdout.write("".join(out))
    sys.stdout.flush()
    sys.stdout.buffer.write(msg.content)
    sys.stdout.write("*** END OF MESSAGE ***\n")
    return 0


# --- postsuper-style actions ---------------------------------------------------------------------

def _delete(cfg: Config, store: QueueStore, queue: str, qid: str) -> bool:
    if store.delete(queue, qid):
        log.postsuper_event(qid, "removed")
        return True
    return False


def _hold(cfg: Config, store: QueueStore, queue: str, qid: str) -> bool:
    if queue == "hold":
        return False
    store.move(qid, queue, "hold")
    log.postsuper_event(qid, "placed on hold")
    return True


def _release(cfg: Config, store: QueueStore, queue: str, qid: str) -> bool:
    if queue != "hold":
        return False
    store.move(qid, "hold", "deferred", mtime=time.time())
    log.postsuper_event(qid, "released from hold")
    return True


def _requeue(cfg: Config, store: QueueStore, queue: str, qid: str) -> bool:
    """Run the message through cleanup again, under a new id, with its pending recipients."""
    msg = store.read(queue, qid)
    pending = [msg.envelope.recipients[i] for i in msg.pending()]
    if not pending:
        return False
    env = Envelope(**{**msg.envelope.__dict__, "recipients": pending})
    Cleanup(cfg, store).submit_sync(env, msg.content, REQUEUE)
    store.delete(queue, qid)
    log.postsuper_event(qid, "requeued")
    return True


def _expire(cfg: Config, store: QueueStore, queue: str, qid: str) -> bool:
    msg = store.read(queue, qid, header_only=True)
    store.set_flag(queue, msg, qfile.FLAG_EXPIRE, "E")
    return True


_ACTIONS: dict[str, tuple[Callable[[Config, QueueStore, str, str], bool], str,
                          tuple[str, ...]]] = {
    "delete": (_delete, "Deleted", DEFAULT_QUEUES),
    "hold": (_hold, "Placed on hold", ("incoming", "active", "deferred")),
    "release": (_release, "Released from hold", ("hold",)),
    "requeue": (_requeue, "Requeued", DEFAULT_QUEUES),
    "expire": (_expire, "Force-expired", DEFAULT_QUEUES),
}


def _bulk(cfg: Config, store: QueueStore, command: str, args: list[str]) -> int:
    action, summary, queues = _ACTIONS[command]
    if args[0] == "ALL":  # postsuper: the word ALL must be upper case
        if len(args) > 1:
            queues = tuple(q for q in args[1:] if q in queues or q == "corrupt")
        targets = [(q, qid) for q in queues for qid in list(store.iterate(q))]
    else:
        if "-" in args:  # postsuper's `-`: the ids come on standard input, as `mailq | ...`
            args = [a for arg in args for a in (sys.stdin.read().split() if arg == "-" else [arg])]
        invalid = [qid for qid in args if not is_queue_id(qid)]
        if invalid:  # a path, a typo: nothing is done, as postsuper stops at it
            sys.stderr.write(f"affix queue: fatal: invalid queue id: {invalid[0]}\n")
            return 1
        targets = []
        for qid in args:
            queue = store.find(qid, queues)
            if queue is None:
                sys.stderr.write(f"affix queue: {qid}: no such message in the "
                                 f"{' or '.join(queues)} queue\n")
            else:
                targets.append((queue, qid))
    done = busy = 0
    for queue, qid in targets:
        try:
            taken = _take(store, queue, qid, queues)
        except _Busy:
            sys.stderr.write(f"affix queue: {qid}: still being delivered after {BUSY_WAIT:g}s; "
                             "not changed (try again)\n")
            busy += 1
            continue
        if taken is None:
            continue  # delivered or removed meanwhile
        queue, fd = taken
        try:
            with contextlib.suppress(FileNotFoundError, qfile.QueueFileError):
                done += bool(action(cfg, store, queue, qid))
        finally:
            os.close(fd)
    if done:
        text = f"{summary}: {done} message{'s' if done != 1 else ''}"
        log.postsuper_summary(text)
        sys.stderr.write(f"postsuper: {text}\n")
    if done and command in ("release", "requeue"):
        poke_server(cfg)
    # as postsuper: an id that is not (or no longer) there is no failure; one left unchanged
    # because its delivery would not end is
    return 1 if busy else 0


class _Busy(Exception):
    pass


def _take(store: QueueStore, queue: str, qid: str,
          queues: tuple[str, ...]) -> tuple[str, int] | None:
    """(queue, fd): the message's queue now and its lock (store.lock), waited for while a
    queue manager works on it; the attempt may move it meanwhile (to deferred, or away).
    None when it is gone; _Busy after BUSY_WAIT seconds."""
    deadline = time.monotonic() + BUSY_WAIT
    while True:
        try:
            fd = store.lock(queue, qid)
        except FileNotFoundError:
            found = store.find(qid, queues)
            if found is None:
                return None
            if time.monotonic() >= deadline:
                raise _Busy from None
            queue = found
            continue
        if fd is not None:
            return queue, fd
        if time.monotonic() >= deadline:
            raise _Busy
        time.sleep(0.05)


# --- flush -------------------------------------------------------------------------------------

def flush(cfg: Config, store: QueueStore) -> int:
    """Make every deferred message due now, then tell a running server to look (SIGUSR1).
    With no server running, say so and exit 69 (EX_UNAVAILABLE), as postqueue -f does: the
    mail waits for the next start, which tries it at once."""
    now = time.time()
    for qid in list(store.iterate("deferred")):
        with contextlib.suppress(FileNotFoundError):
            store.set_next_attempt("deferred", qid, now)
    if not poke_server(cfg, flush=True):
        sys.stderr.write("affix: fatal: Cannot flush mail queue - mail system is down\n")
        return os.EX_UNAVAILABLE
    return 0


def poke_server(cfg: Config, flush: bool = False) -> bool:
    """Tell a running server's queue manager to look at the incoming queue now (SIGUSR2: new
    mail from sendmail, a release or a requeue), or with `flush` to retry the deferred queue
    as well (SIGUSR1); the signal goes to the pid of the server that holds the pid file's lock.
    False when no server is running. New mail must not cost the deferred messages their
    backoff: only a flush retries them early."""
    pid = running_pid(pid_path(cfg))
    if pid is None or pid <= 0:
        return False  # a pid file nobody holds names nobody: its number may be reused
    try:
        os.kill(pid, signal.SIGUSR1 if flush else signal.SIGUSR2)
    except OSError:
        return False
    return True
