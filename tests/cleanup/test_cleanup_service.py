import os
import re
import stat

from affix.cleanup.service import LOCAL, Cleanup, SubmitError
from fixtures.qhelp import envelope, make_config, message, read_log, run, store_for, use_log


def _finish(cfg, env, content):
    cleanup = Cleanup(cfg, store_for(cfg))
    qf = cleanup.open()
    reply = run(cleanup.finish(qf, env, content))
    return qf, reply


def _received(n):
    return "".join(f"Received: from hop{i}.example.org\n\tby x; date\n" for i in range(n))


def test_finish_replies_250_only_with_a_complete_file_on_disk(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    qf, reply = _finish(cfg, envelope("a@example.org", "b@example.test"), message("hi"))
    assert str(reply) == f"250 2.0.0 Ok: queued as {qf.queue_id}"
    assert stat.S_IMODE(os.stat(qf.path).st_mode) == 0o700
    msg = store_for(cfg).read("incoming", qf.queue_id)
    assert msg.envelope.recipients[0].address == "b@example.test"
    assert b"Subject: hi" in msg.content
    assert f"postfix/cleanup[{os.getpid()}]: {qf.queue_id}: message-id=<hi@example.org>" \
        in read_log(tmp_path)


def test_fifty_received_headers_are_rejected_as_a_loop(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    content = (_received(50) + "Subject: loop\n\nbody\n").encode()
    qf, reply = _finish(cfg, envelope("a@example.org", "b@example.test"), content)
    assert str(reply) == "554 5.4.0 Error: too many hops"
    assert not os.path.exists(qf.path)
    assert f"warning: {qf.queue_id}: message rejected: hopcount exceeded" in read_log(tmp_path)


def test_forty_nine_received_headers_are_accepted(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    content = (_received(49) + "Subject: ok\n\nbody\n").encode()
    _, reply = _finish(cfg, envelope("a@example.org", "b@example.test"), content)
    assert reply.code == 250


def test_hopcount_limit_is_configurable(tmp_path):
    cfg = make_config(tmp_path, "hopcount_limit = 3\n")
    use_log(tmp_path)
    content = (_received(3) + "Subject: x\n\nbody\n").encode()
    _, reply = _finish(cfg, envelope("a@example.org", "b@example.test"), content)
    assert reply.code == 554


def test_message_over_size_limit_is_refused(tmp_path):
    cfg = make_config(tmp_path, "message_size_limit = 2000\n")
    use_log(tmp_path)
    qf, reply = _finish(cfg, envelope("a@example.org", "b@example.test"),
                        message(body="x" * 3000 + "\n"))
    assert str(reply) == "552 5.3.4 Error: message file too big"
    assert not os.path.exists(qf.path)
    assert f"warning: {qf.queue_id}: queue file size limit exceeded" in read_log(tmp_path)


def test_smtp_mail_without_message_id_is_logged_empty_and_not_fixed(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    qf, _ = _finish(cfg, envelope("a@example.org", "b@example.test"),
                    b"Received: from x\nSubject: none\n\nbody\n")
    content = store_for(cfg).read("incoming", qf.queue_id).content
    assert b"Message-Id" not in content and b"Date:" not in content
    assert f"{qf.queue_id}: message-id=<>" in read_log(tmp_path)


def test_always_add_missing_headers_adds_message_id_date_from(tmp_path):
    cfg = make_config(tmp_path, "always_add_missing_headers = yes\n")
    use_log(tmp_path)
    qf, _ = _finish(cfg, envelope("a@example.org", "b@example.test"),
                    b"Received: from x\nSubject: none\n\nbody\n")
    content = store_for(cfg).read("incoming", qf.queue_id).content.decode()
    mid = re.search(r"^Message-Id: (<\d{14}\." + qf.queue_id + r"@mx\.example\.test>)$",
                    content, re.M)
    assert mid, content
    assert re.search(r"^Date: \w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(.+\)$",
                     content, re.M)
    assert "\nFrom: a@example.org\n" in content
    assert content.endswith("\n\nbody\n")
    assert f"{qf.queue_id}: message-id={mid.group(1)}" in read_log(tmp_path)


def test_local_submission_gets_received_and_missing_headers(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    store = store_for(cfg)
    qid = Cleanup(cfg, store).submit_sync(envelope("u@example.test", "b@example.test"),
                                          b"Subject: local\n\nhi\n", LOCAL)
    content = store.read("incoming", qid).content.decode()
    assert content.startswith("Received: by mx.example.test (affix, from userid ")
    assert "Message-Id: <" in content and "\nDate: " in content
    assert f"postfix/pickup[{os.getpid()}]: {qid}: uid={os.getuid()} from=<u@example.test>" \
        in read_log(tmp_path)


def test_return_path_and_bcc_headers_are_dropped(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    content = message(extra="Return-Path: <forged@example.org>\nBcc: secret@example.org\n")
    qf, _ = _finish(cfg, envelope("a@example.org", "b@example.test"), content)
    stored = store_for(cfg).read("incoming", qf.queue_id).content
    assert b"Return-Path" not in stored and b"Bcc:" not in stored
    assert b"Subject: test" in stored


def test_hold_action_puts_message_on_hold(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    env = envelope("a@example.org", "b@example.test")
    env.hold = "held by access table"
    qf, reply = _finish(cfg, env, message())
    assert reply.code == 250
    store = store_for(cfg)
    assert list(store.iterate("hold")) == [qf.queue_id]
    assert list(store.iterate("incoming")) == []


def test_discard_action_accepts_but_queues_nothing(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    env = envelope("a@example.org", "b@example.test")
    env.discard = "spam"
    qf, reply = _finish(cfg, env, message())
    assert str(reply) == f"250 2.0.0 Ok: queued as {qf.queue_id}"
    assert not os.path.exists(qf.path)
    assert "message-id=" not in read_log(tmp_path)  # Postfix logs none for a discarded one


def test_the_null_sender_is_named_unqualified_in_an_added_from(tmp_path):
    cfg = make_config(tmp_path, "always_add_missing_headers = yes\n")
    use_log(tmp_path)
    qf, _ = _finish(cfg, envelope("", "b@example.test"), b"Subject: none\n\nbody\n")
    content = store_for(cfg).read("incoming", qf.queue_id).content.decode()
    assert "\nFrom: MAILER-DAEMON\n" in content  # as Postfix adds it


def test_duplicate_recipients_are_queued_once(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    qf, _ = _finish(cfg, envelope("a@example.org", "b@example.test", "B@example.test"),
                    message())
    assert len(store_for(cfg).read("incoming", qf.queue_id).envelope.recipients) == 1


def test_abandon_removes_the_incoming_file(tmp_path):
    cfg = make_config(tmp_path)
    cleanup = Cleanup(cfg, store_for(cfg))
    qf = cleanup.open()
    assert os.path.exists(qf.path)
    cleanup.abandon(qf)
    assert not os.path.exists(qf.path)


def test_submit_raises_with_the_reject_reply(tmp_path):
    cfg = make_config(tmp_path, "hopcount_limit = 1\n")
    use_log(tmp_path)
    try:
        Cleanup(cfg, store_for(cfg)).submit_sync(envelope("a@example.org", "b@example.test"),
                                                 b"Subject: x\n\nbody\n", LOCAL)
    except SubmitError as e:
        assert e.reply.code == 554
    else:
        raise AssertionError("hop limit not applied to a local submission")
    assert list(store_for(cfg).iterate("incoming")) == []


def test_a_body_line_right_after_the_headers_gets_the_empty_line_before_it(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    store = store_for(cfg)
    received = b"Received: from client\n\tby mx; date\n"
    for headers, body in ((b"", b"no headers at all\nsecond: line\n"),
                          (b"Subject: ok\n", b"not a header line\nX-In: body\n")):
        qf, _ = _finish(cfg, envelope("a@example.org", "b@example.test"),
                        received + headers + body)
        assert store.read("incoming", qf.queue_id).content == received + headers + b"\n" + body
