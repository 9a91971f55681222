import os
import re
import subprocess
import time

from affix.queue import qfile
from fixtures.processes import affix_cmd, affix_env
from fixtures.qhelp import (
    USER,
    envelope,
    holding,
    make_config,
    message,
    pid_file_server,
    queue_message,
    run,
    store_for,
    use_log,
)

RCPT = f"{USER}@example.test"


def _setup(tmp_path, n=1, sender="a@example.org"):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    ids = [run(queue_message(cfg, envelope(sender, RCPT, "b@example.test"), message(f"m{i}")))
           for i in range(n)]
    return cfg, store_for(cfg), ids


def _conf(tmp_path):
    return ["-c", str(tmp_path / "etc")]


def test_empty_queue_listing(tmp_path, affix):
    make_config(tmp_path)
    result = affix(*_conf(tmp_path), "queue")
    assert result.returncode == 0
    assert result.stdout == "Mail queue is empty\n"


def test_listing_in_mailq_format_with_status_marks_and_reasons(tmp_path, affix):
    cfg, store, (a, b, c) = _setup(tmp_path, 3)
    store.move(b, "incoming", "hold")
    store.move(c, "incoming", "deferred", mtime=time.time() + 600)
    store.append_log("defer", c, (RCPT, "", "4.2.0", "mailbox busy", "local"))
    result = affix(*_conf(tmp_path), "queue")
    assert result.returncode == 0
    out = result.stdout
    assert out.startswith("-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n")
    msg = store.read("incoming", a)
    size = msg.size + msg.content.count(b"\n")
    stamp = time.asctime(time.localtime(msg.envelope.arrival))[:20]
    assert f"\n{a:<11s} {size:7d} {stamp} a@example.org\n{' ' * 41}{RCPT}\n" \
           f"{' ' * 41}b@example.test\n\n" in out
    assert f"\n{b + '!':<11s} " in out
    reason = "(mailbox busy)"
    assert f"\n{c:<11s} " in out
    assert f"\n{' ' * (76 - len('mailbox busy'))}{reason}\n{' ' * 41}{RCPT}\n" \
           f"{' ' * (76 - len('reason unavailable'))}(reason unavailable)\n" in out
    assert out.endswith(f"-- {3 * size // 1024} Kbytes in 3 Requests.\n")


def test_listing_with_long_queue_ids_lines_recipients_up_under_the_sender(tmp_path, affix):
    cfg = make_config(tmp_path, "enable_long_queue_ids = yes\n")
    qid = run(queue_message(cfg, envelope("a@example.org", RCPT), message("long")))
    out = affix(*_conf(tmp_path), "queue").stdout
    line = next(x for x in out.splitlines() if x.startswith(qid))
    assert line.index("a@example.org") == 47
    assert f"\n{' ' * 47}{RCPT}\n" in out


def test_ids_to_act_on_can_come_on_standard_input(tmp_path, affix):
    _, store, (a, b, c) = _setup(tmp_path, 3)
    result = affix(*_conf(tmp_path), "queue", "delete", "-", input=f"{a}\n{c}\n")
    assert result.returncode == 0
    assert result.stderr == "postsuper: Deleted: 2 messages\n"
    assert list(store.iterate("incoming")) == [b]


def test_delete_one_message_logs_and_summarises(tmp_path, affix):
    _, store, (qid, other) = _setup(tmp_path, 2)
    result = affix(*_conf(tmp_path), "queue", "delete", qid)
    assert result.returncode == 0
    assert result.stderr == "postsuper: Deleted: 1 message\n"
    assert list(store.iterate("incoming")) == [other]
    text = (tmp_path / "maillog").read_text()
    assert re.search(rf"postfix/postsuper\[\d+\]: {qid}: removed", text)
    assert re.search(r"postfix/postsuper\[\d+\]: Deleted: 1 message$", text, re.M)


def test_delete_all(tmp_path, affix):
    _, store, ids = _setup(tmp_path, 3)
    store.move(ids[0], "incoming", "hold")
    result = affix(*_conf(tmp_path), "queue", "delete", "ALL")
    assert result.stderr == "postsuper: Deleted: 3 messages\n"
    assert all(not list(store.iterate(q)) for q in ("incoming", "hold"))


def test_an_unknown_id_is_reported_but_is_no_failure(tmp_path, affix):
    """postsuper exits 0 for ids that are not there (a message delivered meanwhile, a hold
    of one already held): scripts that check the status must not see an error."""
    _, store, (qid,) = _setup(tmp_path, 1)
    result = affix(*_conf(tmp_path), "queue", "delete", "ABCDEF123")
    assert result.returncode == 0
    assert "ABCDEF123: no such message" in result.stderr
    assert affix(*_conf(tmp_path), "queue", "hold", qid).returncode == 0
    again = affix(*_conf(tmp_path), "queue", "hold", qid)
    assert again.returncode == 0
    assert f"{qid}: no such message in the incoming or active or deferred queue" in again.stderr
    assert list(store.iterate("hold")) == [qid]


def test_hold_and_release(tmp_path, affix):
    _, store, (qid,) = _setup(tmp_path)
    result = affix(*_conf(tmp_path), "queue", "hold", qid)
    assert result.stderr == "postsuper: Placed on hold: 1 message\n"
    assert list(store.iterate("hold")) == [qid]
    assert f"{qid}!" in affix(*_conf(tmp_path), "queue").stdout
    result = affix(*_conf(tmp_path), "queue", "release", "ALL")
    assert result.stderr == "postsuper: Released from hold: 1 message\n"
    assert list(store.iterate("deferred")) == [qid]
    assert store.next_attempt("deferred", qid) <= time.time()
    text = (tmp_path / "maillog").read_text()
    assert f"{qid}: placed on hold" in text and f"{qid}: released from hold" in text


def test_requeue_gives_a_new_id_and_keeps_pending_recipients(tmp_path, affix):
    _, store, (qid,) = _setup(tmp_path)
    msg = store.read("incoming", qid)
    store.mark("incoming", msg, 0, qfile.DELIVERED)
    result = affix(*_conf(tmp_path), "queue", "requeue", qid)
    assert result.stderr == "postsuper: Requeued: 1 message\n"
    [new] = list(store.iterate("incoming"))
    assert new != qid
    again = store.read("incoming", new)
    assert [r.address for r in again.envelope.recipients] == ["b@example.test"]
    assert again.content == msg.content
    assert f"{qid}: requeued" in (tmp_path / "maillog").read_text()


def test_expire_marks_the_message(tmp_path, affix):
    _, store, (qid,) = _setup(tmp_path)
    result = affix(*_conf(tmp_path), "queue", "expire", qid)
    assert result.stderr == "postsuper: Force-expired: 1 message\n"
    assert store.read("incoming", qid).force_expired
    assert f"{qid}#" in affix(*_conf(tmp_path), "queue").stdout


def test_show_prints_envelope_and_content(tmp_path, affix):
    _, store, (qid,) = _setup(tmp_path)
    result = affix(*_conf(tmp_path), "queue", "show", qid)
    assert result.returncode == 0
    assert f"*** ENVELOPE RECORDS incoming/{qid} ***" in result.stdout
    assert "sender: a@example.org\n" in result.stdout
    assert f"recipient: {RCPT}\n" in result.stdout
    assert "Subject: m0\n" in result.stdout


def test_flush_makes_deferred_mail_due_and_pokes_the_server(tmp_path, affix):
    cfg, store, (qid,) = _setup(tmp_path)
    store.move(qid, "incoming", "deferred", mtime=time.time() + 3600)
    with pid_file_server(tmp_path) as server:
        result = affix(*_conf(tmp_path), "flush")
        assert result.returncode == 0
        assert server.stdout.readline() == "SIGUSR1\n"
    assert store.next_attempt("deferred", qid) <= time.time()


def test_queue_tools_refuse_path_like_ids(tmp_path, affix):
    _setup(tmp_path)
    result = affix(*_conf(tmp_path), "queue", "delete", "../../etc/passwd")
    assert result.returncode == 1
    assert "invalid queue id: ../../etc/passwd" in result.stderr
    assert os.path.exists("/etc/passwd")


def test_hold_waits_for_a_delivery_in_progress_and_holds_what_it_left(tmp_path, affix):
    cfg, store, (qid,) = _setup(tmp_path)
    store.move(qid, "incoming", "active")
    attempt = holding(store.path("active", qid), store.path("deferred", qid))
    tool = subprocess.Popen([*affix_cmd(), *_conf(tmp_path), "queue", "hold", qid],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=affix_env())
    time.sleep(0.5)
    assert tool.poll() is None  # waits for the attempt
    assert attempt.stdin is not None
    attempt.stdin.write("done\n")
    attempt.stdin.close()
    attempt.wait(10)
    _, err = tool.communicate(timeout=20)
    assert tool.returncode == 0, err
    assert "postsuper: Placed on hold: 1 message" in err
    assert store.find(qid) == "hold"  # from deferred, where the attempt left it


def test_hold_gives_up_on_a_delivery_that_does_not_end(tmp_path, affix):
    cfg, store, (qid,) = _setup(tmp_path)
    store.move(qid, "incoming", "active")
    attempt = holding(store.path("active", qid))
    try:
        result = affix(*_conf(tmp_path), "queue", "hold", qid)
    finally:
        attempt.kill()
        attempt.wait()
    assert result.returncode == 1
    assert f"affix queue: {qid}: still being delivered after 5s; not changed" in result.stderr
    assert store.find(qid) == "active"
