"""affix_workers > 1: several processes accept on one port; the master's queue manager delivers
what they accept while it keeps up and the workers deliver their own while it is behind; the
master retries deferred mail and takes over a dead worker's messages.

Driven through the real `affix start/reload/stop` and real SMTP connections, as an admin would.
"""

from __future__ import annotations

import os
import pwd
import re
import signal
import smtplib
import socket
import threading
import time
from pathlib import Path

import pytest
from cli_instance import Instance

from affix.qmgr.manager import BEHIND_AT
from fixtures.net import wait_for

WORKERS = 2


def children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(name))
            except OSError:
                continue
    return out


def alive(pid: int) -> bool:
    """Running (a zombie whose parent has not reaped it yet has exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class WorkersInstance(Instance):
    """An Instance with WORKERS smtpd processes that delivers mail for this user."""

    def __init__(self, root: Path, affix):
        self.user = pwd.getpwuid(os.getuid()).pw_name
        super().__init__(root, affix, ["affix_stop_grace_time = 10s", f"affix_workers = {WORKERS}",
                                       "mynetworks = 127.0.0.0/8", "local_recipient_maps =",
                                       "alias_maps =", f"mail_spool_directory = {root}/data/mail/"])

    def delivered(self) -> list[Path]:
        new = self.data / "mail" / self.user / "new"
        return list(new.iterdir()) if new.is_dir() else []

    def send(self, n: int) -> str:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client.example")
            s.mail("sender@example.org")
            s.rcpt(f"{self.user}@localhost")
            code, reply = s.data(f"Subject: message {n}\r\n\r\nbody {n}\r\n".encode())
            assert code == 250
            return reply.decode().rsplit(" ", 1)[1]


@pytest.fixture
def instance(tmp_path, affix):
    inst = WorkersInstance(tmp_path, affix)
    yield inst
    pid = inst.pid()
    if pid is not None:
        workers = children(pid)
        inst.affix("-c", str(inst.dir), "stop")
        for p in [pid, *workers]:  # stop failed: leave nothing behind
            if alive(p):
                os.kill(p, signal.SIGKILL)


def _smtpd_pids(maillog: str) -> set[int]:
    return {int(p) for p in re.findall(r"postfix/smtpd\[(\d+)\]: connect from", maillog)}


def test_two_workers_both_accept_and_each_message_is_delivered_once(instance):
    assert instance.run("start").returncode == 0
    master = instance.pid()
    workers = wait_for(lambda: len(children(master)) == WORKERS and children(master))
    qids = [instance.send(n) for n in range(40)]  # a new connection each: the kernel spreads
    wait_for(lambda: len(instance.delivered()) >= 40)
    time.sleep(0.5)  # a second delivery of anything would show up now
    assert len(instance.delivered()) == 40
    log = instance.maillog
    assert _smtpd_pids(log) == set(workers)  # both accepted, the master did not
    for qid in qids:
        (accepted_by,) = re.findall(rf"postfix/smtpd\[(\d+)\]: {qid}: client=", log)
        (delivered_by,) = re.findall(rf"postfix/local\[(\d+)\]: {qid}: .*status=sent", log)
        assert int(delivered_by) in (master, int(accepted_by))  # never by the other worker
        assert re.search(rf"postfix/qmgr\[{delivered_by}\]: {qid}: removed", log)
    assert instance.run("stop").returncode == 0
    assert not any(alive(p) for p in [master, *workers])


def test_workers_reload_keeping_sessions_and_stop_drains_them(instance):
    assert instance.run("start").returncode == 0
    old = smtplib.SMTP("127.0.0.1", instance.port, timeout=30)
    instance.write_main("smtpd_banner = $myhostname ESMTP second")
    assert instance.run("reload").returncode == 0

    wait_for(lambda: all(_new_greeting(instance.port).endswith(b"second") for _ in range(6)))
    assert old.ehlo("client.example")[0] == 250  # the session from before the reload
    old.mail("sender@example.org")
    stopped: list[int] = []
    stop = threading.Thread(target=lambda: stopped.append(instance.run("stop").returncode))
    stop.start()
    wait_for(lambda: "terminating on signal 15" in instance.maillog)
    assert old.rcpt(f"{instance.user}@localhost")[0] == 250  # still served while draining
    assert old.data(b"Subject: late\r\n\r\nbody\r\n")[0] == 250
    old.quit()
    stop.join(60)
    assert stopped == [0]
    assert instance.pid() is None


def _new_greeting(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        return s.recv(1024).rstrip()


def test_a_worker_that_dies_is_replaced(instance):
    assert instance.run("start").returncode == 0
    master = instance.pid()
    first = wait_for(lambda: len(children(master)) == WORKERS and children(master))
    os.kill(first[0], signal.SIGKILL)
    wait_for(lambda: len(children(master)) == WORKERS and first[0] not in children(master))
    assert "starting a new one" in instance.maillog
    assert all(_new_greeting(instance.port).startswith(b"220 ") for _ in range(6))


def test_start_with_workers_on_a_busy_port_fails_with_a_reason(instance):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", instance.port))
        busy.listen()
        done = instance.run("start")
    assert done.returncode == 1
    assert f"service 127.0.0.1:{instance.port}: cannot listen" in done.stderr
    assert instance.run("status").returncode == 1


def test_a_second_server_with_workers_on_the_same_port_is_refused(instance, tmp_path, affix):
    """Workers bind with SO_REUSEPORT, which another server's workers could share."""
    assert instance.run("start").returncode == 0
    (tmp_path / "other").mkdir()
    other = WorkersInstance(tmp_path / "other", affix)
    other.write_master(f"127.0.0.1:{instance.port} inet n - n - - smtpd")
    try:
        done = other.run("start")
        assert done.returncode == 1
        assert f"service 127.0.0.1:{instance.port}: cannot listen" in done.stderr
        assert "Address already in use" in done.stderr
        assert other.run("status").returncode == 1
    finally:
        other.affix("-c", str(other.dir), "stop")


def _mailbox_command(instance, command: str, *settings: str) -> None:
    instance.write_main(f"mailbox_command = {command}", *settings)


def test_etrn_to_a_worker_makes_the_master_retry_the_deferred_queue(instance, tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    # deferred (EX_TEMPFAIL) until GATE/go exists; retried only when somebody asks
    _mailbox_command(instance, f"test -e {gate}/go && cat > {gate}/out || exit 75",
                     "minimal_backoff_time = 1h", "maximal_backoff_time = 1h",
                     "queue_run_delay = 1h", "fast_flush_domains = localhost")
    assert instance.run("start").returncode == 0
    master = instance.pid()
    qid = instance.send(1)
    wait_for(lambda: re.search(rf"{qid}: .*status=deferred", instance.maillog))
    (gate / "go").touch()
    with smtplib.SMTP("127.0.0.1", instance.port, timeout=30) as s:
        assert s.docmd("ETRN", "localhost") == (250, b"Queuing started")
    wait_for(lambda: (gate / "out").exists()
             and re.search(rf"{qid}: removed", instance.maillog))
    assert b"body 1" in (gate / "out").read_bytes()
    assert re.search(rf"postfix/local\[{master}\]: {qid}: .*status=sent", instance.maillog)


def test_workers_deliver_while_the_master_is_behind_and_it_takes_over_a_dead_ones(instance,
                                                                                    tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    # every delivery waits for GATE/go: the master's queue manager fills up with messages
    _mailbox_command(instance, f"while ! test -e {gate}/go; do sleep 0.05; done; "
                               f"cat > {gate}/out.$$")
    assert instance.run("start").returncode == 0
    master = instance.pid()
    first = [instance.send(n) for n in range(BEHIND_AT)]
    wait_for(lambda: all(re.search(rf"qmgr\[{master}\]: {qid}: from=", instance.maillog)
                         for qid in first))
    time.sleep(0.5)  # the master tells the workers it is behind
    later = [instance.send(n) for n in range(BEHIND_AT, BEHIND_AT + 4)]
    wait_for(lambda: all(re.search(rf"qmgr\[\d+\]: {qid}: from=", instance.maillog)
                         for qid in later))
    log = instance.maillog
    by_worker = {qid: int(re.findall(rf"smtpd\[(\d+)\]: {qid}: client=", log)[0])
                 for qid in later}
    for qid, worker in by_worker.items():  # each worker took its own
        assert re.search(rf"qmgr\[{worker}\]: {qid}: from=", log)
    orphan, dead = next(iter(by_worker.items()))
    time.sleep(0.3)  # its delivery command is running
    assert (instance.data / "queue" / "active" / orphan).exists()
    os.kill(dead, signal.SIGKILL)
    wait_for(lambda: re.search(rf"qmgr\[{master}\]: warning: {orphan}: delivery was "
                               "interrupted", instance.maillog))
    (gate / "go").touch()
    wait_for(lambda: all(re.search(rf"{qid}: removed", instance.maillog)
                         for qid in first + later), timeout=60)
    log = instance.maillog
    assert re.search(rf"local\[{master}\]: {orphan}: .*status=sent", log)
    for qid in first + later:
        assert re.findall(rf"local\[\d+\]: {qid}: .*status=sent", log)
    assert not list((instance.data / "queue" / "active").iterdir())


def test_a_worker_hands_its_queue_ids_to_the_master_unless_it_is_behind():
    import asyncio

    from affix.workers import _Handover

    worker_end, master_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    master_end.settimeout(5)
    own: list[str] = []
    received: list[bytes] = []

    async def turns() -> None:
        handover = _Handover(worker_end, own.append)
        for qid in ("4A1B2C3D4E", "4A1B2C3D4F"):
            handover(qid)
        await asyncio.sleep(0)  # the loop turns: one record for both
        received.append(master_end.recv(4096))
        handover.master_behind = True
        handover("4A1B2C3D50")  # delivered here
        handover.master_behind = False
        master_end.close()  # the master cannot be told: delivered here as well
        handover("4A1B2C3D51")
        await asyncio.sleep(0)
        # a bounce or a forward is submitted from a thread: its id reaches the loop
        handover.master_behind = True
        await asyncio.to_thread(handover, "4A1B2C3D52")
        await asyncio.sleep(0)

    asyncio.run(turns())
    worker_end.close()
    assert received == [b"Q 4A1B2C3D4E 4A1B2C3D4F"]
    assert own == ["4A1B2C3D50", "4A1B2C3D51", "4A1B2C3D52"]


def test_an_etrn_the_master_cannot_take_yet_is_asked_again_until_it_can():
    import asyncio

    from affix.workers import _FlushRequest

    worker_end, master_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    master_end.setblocking(False)
    filler = 0
    while True:  # the master's buffer is full: no record can go
        try:
            worker_end.send(b"Q 4A1B2C3D4E", socket.MSG_DONTWAIT)
            filler += 1
        except BlockingIOError:
            break
    received: list[bytes] = []

    async def turns() -> None:
        request = _FlushRequest(worker_end)
        request()
        request()  # a second ETRN while the first waits: one request covers both
        for _ in range(filler):  # the master catches up
            assert master_end.recv(4096) == b"Q 4A1B2C3D4E"
        await asyncio.sleep(_FlushRequest.RETRY * 3)
        while True:
            try:
                received.append(master_end.recv(4096))
            except BlockingIOError:
                break

    asyncio.run(turns())
    worker_end.close()
    master_end.close()
    assert filler > 0
    assert received == [b"FLUSH"]
