"""Crash safety through the real server (design.md: "250 means on disk", "delivery is
at-least-once, duplicates rare and logged").

The server runs as `affix -c DIR start-fg` and is killed with SIGKILL at the worst moments:
right after it said 250, in the middle of DATA, and during delivery. After a restart, every
message a client saw 250 for is in the Maildir exactly once, no message without a 250 is, and
a second copy appears only for a message whose delivery was under way at the kill, with the
warning that accounts for it in the mail log.
"""

from __future__ import annotations

import os
import re
import smtplib
import socket
import threading
from collections import Counter

import pytest
from e2e_helpers import USER, AffixServer, message

from fixtures.net import wait_for

RCPT = f"{USER}@example.test"


def send_and_kill(server: AffixServer, msgid: str) -> None:
    """One message; SIGKILL the moment its 250 has arrived."""
    s = server.smtp()
    s.mail("a@example.org")
    s.rcpt(RCPT)
    code, text = s.data(message(msgid))
    assert code == 250 and text.startswith(b"2.0.0 Ok: queued as "), (code, text)
    server.kill()
    s.close()


def delivered_once(server: AffixServer, accepted: list[str]) -> Counter[str]:
    ids = server.message_ids()
    for msgid in accepted:
        assert ids[f"<{msgid}>"] >= 1, f"{msgid} was accepted but is not in the Maildir"
    return ids


def queue_ids_of(server: AffixServer, msgid: str) -> set[str]:
    return {m.group(1) for m in re.finditer(
        rf"postfix/cleanup\[\d+\]: (\w+): message-id=<{re.escape(msgid)}>", server.log)}


def assert_duplicates_accounted(server: AffixServer, ids: Counter[str]) -> int:
    """Every second copy belongs to a message whose delivery the kill interrupted: the
    restarted queue manager logged the warning for it. (The first copy's `status=sent` line
    may be missing: the kill can fall between the Maildir rename and the log line.) Returns
    the number of second copies."""
    dups = 0
    for msgid, count in ids.items():
        if count == 1:
            continue
        assert count == 2, f"{msgid}: {count} copies after one crash"
        (qid,) = queue_ids_of(server, msgid.strip("<>"))
        assert server.log_lines(rf"qmgr\[\d+\]: warning: {qid}: delivery was interrupted"), \
            f"{msgid} was delivered twice without the warning"
        assert server.log_lines(rf"{qid}: to=<{RCPT}>.* status=sent")
        dups += 1
    return dups


def test_kill_right_after_250_the_message_is_delivered_after_restart(affix_server):
    server = affix_server().start()
    accepted = []
    for n in range(3):
        msgid = f"after-250-{n}@example.org"
        send_and_kill(server, msgid)
        accepted.append(msgid)
        server.start()
    server.wait_queue_empty()
    ids = delivered_once(server, accepted)
    assert set(ids) == {f"<{m}>" for m in accepted}
    assert_duplicates_accounted(server, ids)
    assert server.log.count("daemon started") == 4


def test_kill_in_the_middle_of_data_delivers_nothing_and_leaves_no_file(affix_server):
    server = affix_server().start()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    f = sock.makefile("rb")
    assert f.readline().startswith(b"220 ")
    for line in ("EHLO client.example.org", "MAIL FROM:<a@example.org>", f"RCPT TO:<{RCPT}>",
                 "DATA"):
        sock.sendall(line.encode() + b"\r\n")
        while (reply := f.readline())[3:4] == b"-":
            pass
    assert reply.startswith(b"354 ")
    sock.sendall(message("half-sent@example.org", size=20000)[:10000])
    # The queue file exists from the first accepted RCPT, not yet marked complete.
    (partial,) = wait_for(lambda: server.queue_files("incoming"), what="the incoming file")
    server.kill()
    sock.close()
    assert os.stat(server.root / "queue" / "incoming" / partial).st_mode & 0o777 != 0o700

    server.start()
    s = server.smtp()
    s.sendmail("a@example.org", [RCPT], message("after-restart@example.org"))
    s.quit()
    server.wait_log(r"status=sent")
    server.wait_queue_empty()
    assert server.message_ids() == Counter({"<after-restart@example.org>": 1})
    assert partial not in server.queue_files()
    assert not server.log_lines(rf"{partial}: to=")  # never delivered, never bounced


def test_kill_during_a_slow_delivery_redelivers_and_logs_the_duplicate(affix_server, gate):
    """One message to a Maildir user and to a slow |command alias: the Maildir copy is done,
    the command still runs when the server dies, so neither is recorded as done. After the
    restart both are delivered again: the Maildir has a second copy, which the log accounts
    for (the design's "duplicates rare and logged")."""
    server = affix_server("alias_maps = hash:%DIR%/aliases\n"
                          "alias_database = hash:%DIR%/aliases\n")
    (server.root / "aliases").write_text(
        f'slow: "|test -e {gate}/go || exec sleep 30"\n')
    assert server.affix("newaliases").returncode == 0
    server.start()
    s = server.smtp()
    s.sendmail("a@example.org", [RCPT, "slow@example.test"], message("slow@example.org"))
    s.quit()
    (qid,) = queue_ids_of(server, "slow@example.org")
    server.wait_log(rf"{qid}: to=<{RCPT}>.* status=sent \(delivered to maildir\)")
    assert not server.log_lines(rf"{qid}: to=<slow@")  # the command is still running
    server.kill()
    assert server.message_ids() == Counter({"<slow@example.org>": 1})

    (gate / "go").touch()
    server.start()
    server.wait_queue_empty()
    ids = server.message_ids()
    assert ids == Counter({"<slow@example.org>": 2})
    assert assert_duplicates_accounted(server, ids) == 1
    assert len(server.log_lines(rf"{qid}: to=<{RCPT}>.* status=sent")) == 2
    assert server.wait_log(rf"{qid}: to=<slow@example.test>.* status=sent \(delivered to "
                           rf"command: ")
    # the file is gone (wait_queue_empty) a moment before the line is written
    assert server.wait_log(rf"qmgr\[\d+\]: {qid}: removed")


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_during_a_batch_loses_nothing(affix_server, workers):
    """Many clients at once; the kill comes while messages are being received and delivered
    (with affix_workers = 2: by the master's queue manager and the workers' own, whichever
    delivers). Every 250 is delivered after the restart; a client cut off before its final
    dot is not; a second copy only with the warning."""
    server = affix_server(f"affix_workers = {workers}\n").start()
    results: dict[str, str] = {}  # msgid -> "accepted" | "cut" (no final dot sent) | "sent"
    lock = threading.Lock()
    kill_now = threading.Event()

    def client(n: int) -> None:
        for k in range(200):
            msgid = f"batch-{n}-{k}@example.org"
            try:
                s = server.smtp(timeout=5)
                s.mail("a@example.org")
                s.rcpt(RCPT)
                s.putcmd("data")
                if s.getreply()[0] != 354:
                    return
                with lock:
                    results[msgid] = "cut"
                s.send(message(msgid, size=3000))
                with lock:
                    results[msgid] = "sent"  # the final dot is out; no reply seen yet
                s.send(b".\r\n")
                code, _ = s.getreply()
                if code == 250:
                    with lock:
                        results[msgid] = "accepted"
                    if k == 5:
                        kill_now.set()
                s.close()
            except (OSError, smtplib.SMTPException):
                return

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    kill_now.wait(20)
    server.kill()
    for t in threads:
        t.join(20)
    server.start()
    server.wait_queue_empty()

    accepted = [m for m, state in results.items() if state == "accepted"]
    cut = [m for m, state in results.items() if state == "cut"]
    assert len(accepted) >= 6
    ids = delivered_once(server, accepted)
    for msgid in cut:
        assert ids[f"<{msgid}>"] == 0, f"{msgid}: delivered without its end of data"
    assert_duplicates_accounted(server, ids)

