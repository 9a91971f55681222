import email
import errno
import fcntl
import os
import re
import stat
import threading

import pytest

from affix.delivery.agent import DeliveryRequest
from affix.delivery.local import LocalAgent
from affix.delivery.syncs import Syncs
from affix.offload import Offload
from affix.qmgr import manager as manager_module
from affix.queue.envelope import Recipient
from affix.smtpd import eager
from fixtures.qhelp import (
    HOST,
    USER,
    deliver,
    envelope,
    maildir_files,
    make_config,
    message,
    queue_message,
    read_log,
    run,
    run_qmgr,
    store_for,
    use_log,
)

RCPT = f"{USER}@example.test"


def test_maildir_delivery_prepends_return_path_original_and_delivered_to(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    content = message("maildir")
    qid = deliver(cfg, envelope("a@example.org", RCPT), content)
    files = maildir_files(tmp_path)
    assert len(files) == 1
    # lower-case hex, as Postfix names them (%lx)
    assert re.fullmatch(r"\d+\.V[0-9a-f]+I[0-9a-f]+M\d+\..+", files[0].name)
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert files[0].read_bytes() == (f"Return-Path: <a@example.org>\nX-Original-To: {RCPT}\n"
                                     f"Delivered-To: {RCPT}\n").encode() + content
    assert list((tmp_path / "mail" / USER / "tmp").iterdir()) == []
    text = read_log(tmp_path)
    assert re.search(rf"postfix/qmgr\[\d+\]: {qid}: from=<a@example.org>, size=\d+, nrcpt=1 "
                     r"\(queue active\)", text)
    assert re.search(rf"postfix/local\[\d+\]: {qid}: to=<{RCPT}>, relay=local, delay=[\d.]+, "
                     r"delays=[\d.]+/[\d.]+/0/[\d.]+, dsn=2\.0\.0, status=sent "
                     r"\(delivered to maildir\)", text)
    assert f"postfix/qmgr[{os.getpid()}]: {qid}: removed" in text
    assert list(store_for(cfg).iterate("active")) == []


def test_mail_to_an_address_literal_of_this_server_is_local(tmp_path):
    """smtpd accepts user@[our address] as local mail: the queue manager must deliver it
    here too, not leave it to wait for an SMTP client that does not exist."""
    cfg = make_config(tmp_path, "inet_interfaces = 127.0.0.1\n")
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", f"{USER}@[127.0.0.1]"), message("literal"))
    assert len(maildir_files(tmp_path)) == 1
    assert f"to=<{USER}@[127.0.0.1]>, relay=local" in read_log(tmp_path)


def test_mail_for_a_content_filter_waits_rather_than_going_round_it(tmp_path):
    """A FILTER action (header_checks or an access table) asks for a scan affix cannot make:
    delivering the mail unscanned would defeat it, so it waits, as when the filter is down."""
    (tmp_path / "header_checks").write_text("/^Subject: scan/ FILTER scan:[127.0.0.1]:10025\n")
    cfg = make_config(tmp_path, f"header_checks = regexp:{tmp_path}/header_checks\n")
    use_log(tmp_path)
    qid = deliver(cfg, envelope("a@example.org", RCPT), message("scan me"), until_empty=False)
    assert maildir_files(tmp_path) == []
    assert list(store_for(cfg).iterate("deferred")) == [qid]
    text = read_log(tmp_path)
    assert (f"warning: {qid}: content filter scan:[127.0.0.1]:10025: affix cannot hand mail "
            "to a content filter; the message waits in the queue") in text
    assert re.search(rf"{qid}: to=<{RCPT}>, relay=none, .*dsn=4\.3\.0, status=deferred "
                     r"\(mail transport unavailable\)", text)


def test_mbox_delivery_writes_from_line_quotes_from_and_ends_with_blank_line(tmp_path):
    cfg = make_config(tmp_path, f"mail_spool_directory = {tmp_path}/spool\n")
    (tmp_path / "spool").mkdir()
    use_log(tmp_path)
    body = "From the start\n>From kept\nFromage\nlast line without newline"
    deliver(cfg, envelope("", RCPT), message("mbox", body))
    box = tmp_path / "spool" / USER
    data = box.read_text()
    assert re.match(r"From MAILER-DAEMON  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n"
                    r"Return-Path: <>\n", data)
    assert "\n>From the start\n>From kept\nFromage\nlast line without newline\n\n" in data
    assert data.endswith("without newline\n\n")
    assert stat.S_IMODE(box.stat().st_mode) == 0o600
    assert "status=sent (delivered to mailbox)" in read_log(tmp_path)
    assert not (tmp_path / "spool" / f"{USER}.lock").exists()


def test_an_mbox_that_cannot_be_opened_bounces_a_maildir_defers(tmp_path):
    """local(8): an mbox it cannot open is a permanent failure (5.2.0); a Maildir file it
    cannot create is a temporary one (4.2.0)."""
    cfg = make_config(tmp_path, f"mail_spool_directory = {tmp_path}/spool\n")
    (tmp_path / "spool" / USER).mkdir(parents=True)  # a directory where the mbox should be
    use_log(tmp_path)
    deliver(cfg, envelope("", RCPT), message("dir"))
    assert (f"dsn=5.2.0, status=bounced (cannot update mailbox {tmp_path}/spool/{USER} for "
            f"user {USER}. cannot open file: Is a directory)") in read_log(tmp_path)
    cfg = make_config(tmp_path, f"mail_spool_directory = {tmp_path}/mail/\n")
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / USER).write_text("a file where the Maildir should be")
    deliver(cfg, envelope("", RCPT), message("file"), until_empty=False)
    assert re.search(r"dsn=4\.2\.0, status=deferred \(maildir delivery failed: ",
                     read_log(tmp_path))


def test_second_message_is_appended_to_the_mbox(tmp_path):
    cfg = make_config(tmp_path, f"mail_spool_directory = {tmp_path}/spool\n")
    (tmp_path / "spool").mkdir()
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", RCPT), message("one"))
    deliver(cfg, envelope("a@example.org", RCPT), message("two"))
    data = (tmp_path / "spool" / USER).read_text()
    assert data.count("\nFrom a@example.org  ") + data.startswith("From a@") == 2
    assert data.index("Subject: one") < data.index("Subject: two")


def test_locked_mbox_defers_and_a_later_attempt_delivers(tmp_path):
    cfg = make_config(tmp_path, f"mail_spool_directory = {tmp_path}/spool\n"
                                "deliver_lock_attempts = 1\n")
    (tmp_path / "spool").mkdir()
    box = tmp_path / "spool" / USER
    box.write_text("")
    box.chmod(0o600)
    use_log(tmp_path)
    holder = os.open(box, os.O_RDWR)
    pid = os.fork()
    if pid == 0:  # another process holds the fcntl lock (a mail reader)
        fcntl.lockf(holder, fcntl.LOCK_EX)
        os.read(os.open(os.devnull, os.O_RDONLY), 1)
        import time
        time.sleep(3)
        os._exit(0)
    try:
        import time
        time.sleep(0.3)
        deliver(cfg, envelope("a@example.org", RCPT), message("locked"), until_empty=False)
        assert box.read_text() == ""
        assert re.search(r"status=deferred \(cannot update mailbox .* unable to lock for "
                         r"exclusive access", read_log(tmp_path))
        assert len(list(store_for(cfg).iterate("deferred"))) == 1
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(holder)
    run(run_qmgr(cfg))
    assert "Subject: locked" in box.read_text()


def test_stale_dotlock_is_removed(tmp_path):
    cfg = make_config(tmp_path, f"mail_spool_directory = {tmp_path}/spool\n"
                                "stale_lock_time = 10s\ndeliver_lock_attempts = 2\n")
    (tmp_path / "spool").mkdir()
    lock = tmp_path / "spool" / f"{USER}.lock"
    lock.write_text("")
    os.utime(lock, (1, 1))
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", RCPT), message("stale"))
    assert "Subject: stale" in (tmp_path / "spool" / USER).read_text()
    assert not lock.exists()


def test_mailbox_size_limit_bounces_and_truncates_back(tmp_path):
    cfg = make_config(tmp_path, f"mail_spool_directory = {tmp_path}/spool\n"
                                "mailbox_size_limit = 3000\nmessage_size_limit = 2500\n")
    (tmp_path / "spool").mkdir()
    box = tmp_path / "spool" / USER
    box.write_text("From x  Thu Jan  1 00:00:00 1970\n" + "x" * 2000 + "\n\n")
    box.chmod(0o600)
    before = box.read_bytes()
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", RCPT), message("big", "y" * 1500 + "\n"),
             until_empty=False)
    assert box.read_bytes() == before
    assert (f"dsn=5.2.2, status=bounced (cannot update mailbox {box} for user {USER}. "
            "error writing message: File too large)") in read_log(tmp_path)
    # the notice returns only the headers, so that it fits in message_size_limit
    assert "sender non-delivery notification: " in read_log(tmp_path)


def test_maildir_file_over_mailbox_size_limit_fails_with_efbig(tmp_path):
    import errno

    import pytest

    from affix.delivery.mailbox import deliver_maildir
    with pytest.raises(OSError) as e:
        deliver_maildir(str(tmp_path / "md") + "/", b"x" * 101, limit=100)
    assert e.value.errno == errno.EFBIG
    assert list((tmp_path / "md" / "tmp").iterdir()) == []
    assert list((tmp_path / "md" / "new").iterdir()) == []


def test_mailbox_limit_smaller_than_message_limit_keeps_mail_queued(tmp_path):
    cfg = make_config(tmp_path, "mailbox_size_limit = 1000\nmessage_size_limit = 5000\n")
    use_log(tmp_path)
    deliver(cfg, envelope("a@example.org", RCPT), message("cfg"), until_empty=False)
    text = read_log(tmp_path)
    assert ("fatal: configuration error: mailbox_size_limit is smaller than "
            "message_size_limit") in text
    assert "dsn=4.3.5, status=deferred (mail system configuration error)" in text
    assert maildir_files(tmp_path) == []
    assert len(list(store_for(cfg).iterate("deferred"))) == 1


def test_temporary_failure_defers_then_a_later_run_delivers(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    (tmp_path / "mail").mkdir()
    blocker = tmp_path / "mail" / USER
    blocker.write_text("not a directory")  # the Maildir cannot be made: a local problem
    qid = deliver(cfg, envelope("a@example.org", RCPT), message("retry"), until_empty=False)
    text = read_log(tmp_path)
    assert re.search(rf"{qid}: to=<{RCPT}>, relay=local, .*dsn=4\.2\.0, status=deferred "
                     r"\(maildir delivery failed: create maildir file ", text)
    assert list(store_for(cfg).iterate("deferred")) == [qid]
    blocker.unlink()
    run(run_qmgr(cfg))
    assert len(maildir_files(tmp_path)) == 1
    assert f"{qid}: removed" in read_log(tmp_path)


def test_delivered_to_loop_bounces_with_5_4_6(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    deliver(cfg, envelope("", RCPT), message("loop", extra=f"Delivered-To: {RCPT}\n"))
    assert maildir_files(tmp_path) == []
    assert f"dsn=5.4.6, status=bounced (mail forwarding loop for {RCPT})" in read_log(tmp_path)


def _notices(tmp_path):
    """Bounce notices delivered to USER's Maildir, parsed."""
    return [email.message_from_bytes(f.read_bytes()) for f in maildir_files(tmp_path)]


def test_unknown_user_bounces_with_a_dsn_to_the_sender(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    qid = deliver(cfg, envelope(RCPT, "no-such-user-x@example.test"), message("lost"))
    text = read_log(tmp_path)
    assert 'dsn=5.1.1, status=bounced (unknown user: "no-such-user-x")' in text
    new_id = re.search(rf"postfix/bounce\[\d+\]: {qid}: sender non-delivery notification: "
                       r"(\w+)", text).group(1)
    assert re.search(rf"{new_id}: from=<>, size=\d+, nrcpt=1", text)
    [notice] = _notices(tmp_path)
    assert notice["Return-Path"] == "<>"
    assert notice["From"] == f"Mail Delivery System <MAILER-DAEMON@{HOST}>"
    assert notice["Subject"] == "Undelivered Mail Returned to Sender"
    assert notice.get_content_type() == "multipart/report"
    assert notice.get_param("report-type") == "delivery-status"
    parts = notice.get_payload()
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/delivery-status",
                                                      "message/rfc822"]
    status = parts[1].as_string()
    assert f"Reporting-MTA: dns; {HOST}" in status
    assert f"X-Postfix-Queue-ID: {qid}" in status
    assert "Final-Recipient: rfc822; no-such-user-x@example.test" in status
    assert "Action: failed" in status and "Status: 5.1.1" in status
    assert parts[2].get_payload()[0]["Subject"] == "lost"


def test_null_sender_mail_never_bounces(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    deliver(cfg, envelope("", "no-such-user-x@example.test"), message("lost"))
    text = read_log(tmp_path)
    assert "status=bounced" in text
    assert "non-delivery notification" not in text
    assert list(store_for(cfg).iterate("incoming")) == []


def test_expired_message_is_returned_to_sender(tmp_path):
    cfg = make_config(tmp_path, "maximal_queue_lifetime = 0\n")
    use_log(tmp_path)
    qid = deliver(cfg, envelope(RCPT, "someone@remote.example"), message("far"))
    text = read_log(tmp_path)
    assert re.search(r"to=<someone@remote\.example>, relay=none, .*status=deferred "
                     r"\(delivery to remote domains is not implemented yet\)", text)
    assert f"{qid}: from=<{RCPT}>, status=expired, returned to sender" in text
    assert f"{qid}: sender non-delivery notification: " in text
    [notice] = _notices(tmp_path)
    status = notice.get_payload()[1].as_string()
    assert "Final-Recipient: rfc822; someone@remote.example" in status
    assert "Status: 4.3.0" in status


def test_delay_warning_is_sent_once_when_configured(tmp_path):
    import time
    cfg = make_config(tmp_path, "delay_warning_time = 1s\n")
    use_log(tmp_path)
    qid = deliver(cfg, envelope(RCPT, "someone@remote.example", arrival=time.time() - 60),
                   message("slow"), until_empty=False)
    run(run_qmgr(cfg, until_empty=False, settle=2.5))  # a second attempt: no second warning
    text = read_log(tmp_path)
    assert text.count(f"{qid}: sender delay notification: ") == 1
    [notice] = _notices(tmp_path)
    assert notice["Subject"] == "Delayed Mail (still being retried)"
    assert "Action: delayed" in notice.get_payload()[1].as_string()


def test_recipient_delimiter_delivers_to_the_base_user(tmp_path):
    cfg = make_config(tmp_path, "recipient_delimiter = +\n")
    use_log(tmp_path)
    rcpt = f"{USER}+lists@example.test"
    deliver(cfg, envelope("a@example.org", rcpt), message("ext"))
    [f] = maildir_files(tmp_path)
    assert f"X-Original-To: {rcpt}\nDelivered-To: {rcpt}\n" in f.read_text()


def test_home_mailbox_maildir_in_home_directory(tmp_path):
    import pwd
    home = pwd.getpwnam(USER).pw_dir
    name = f"affix-test-{os.getpid()}/"
    cfg = make_config(tmp_path, f"home_mailbox = {name}\n")
    use_log(tmp_path)
    try:
        deliver(cfg, envelope("a@example.org", RCPT), message("home"))
        files = list((__import__("pathlib").Path(home) / name / "new").iterdir())
        assert len(files) == 1 and b"Subject: home" in files[0].read_bytes()
    finally:
        import shutil
        shutil.rmtree(os.path.join(home, name), ignore_errors=True)


def test_without_smtp_sessions_a_plain_maildir_delivery_runs_on_the_loop(tmp_path):
    # the master of affix_workers: a Maildir write needs no thread; a command keeps its own
    use_log(tmp_path)

    def attempt(extra: str, rcpt: str) -> tuple[bool, list[str]]:
        agent = LocalAgent(make_config(tmp_path, extra), offload=Offload(None))

        async def go() -> tuple[bool, list[str]]:
            request = DeliveryRequest("QID", envelope("a@example.org", rcpt),
                                      Recipient(rcpt), message("inline"))
            finished, value = eager.start(agent.deliver(request))
            outcomes = value if finished else await value
            return finished, [o.status for o in outcomes]
        return run(go())

    assert attempt("", RCPT) == (True, ["sent"])
    assert len(maildir_files(tmp_path)) == 1
    assert attempt("alias_maps = inline:{ piped=|/bin/cat }\n",
                   "piped@example.test") == (False, ["sent"])
    assert attempt("mailbox_command = /bin/cat\n", RCPT) == (False, ["sent"])
    assert len(maildir_files(tmp_path)) == 1  # the commands took the other two


@pytest.mark.parametrize("slow_disk", [False, True])
def test_on_the_loop_a_queue_file_goes_only_after_the_maildir_entry_is_synced(tmp_path,
                                                                             monkeypatch,
                                                                             slow_disk):
    # deliveries on the master's loop share the fsync of new/ (delivery/syncs.py); each file
    # is fsynced before its link, and the message leaves the queue only after an fsync of
    # new/ that followed its link -- on the loop, and in rounds on a thread (a slow disk)
    if slow_disk:
        monkeypatch.setattr(manager_module, "Syncs", lambda offload: Syncs(Offload(0.0)))
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    events: list[tuple[str, ...]] = []
    real_fsync, real_link, real_unlink, real_rename = os.fsync, os.link, os.unlink, os.rename

    def fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

    def link(src, dst, *args, **kw):  # noqa: ANN001, ANN202 - os.link's own signature
        real_link(src, dst, *args, **kw)
        events.append(("link", str(src), str(dst)))

    def unlink(path, *args, **kw):  # noqa: ANN001, ANN202
        real_unlink(path, *args, **kw)
        events.append(("unlink", str(path)))

    def rename(src, dst, *args, **kw):  # noqa: ANN001, ANN202 - into spare/: a removal too
        real_rename(src, dst, *args, **kw)
        events.append(("unlink", str(src)))

    async def go() -> list[str]:
        ids = [await queue_message(cfg, envelope("a@example.org", RCPT), message(f"m{n}"))
               for n in range(12)]
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "link", link)
        monkeypatch.setattr(os, "unlink", unlink)
        monkeypatch.setattr(os, "rename", rename)
        await run_qmgr(cfg, inline_io=True)
        return ids

    ids = run(go())
    new_dir = str(tmp_path / "mail" / USER / "new")
    assert len(maildir_files(tmp_path)) == 12
    links = [i for i, (kind, *_) in enumerate(events) if kind == "link"]
    syncs = [i for i, e in enumerate(events) if e == ("fsync", new_dir)]
    assert len(links) == 12
    if not slow_disk:
        assert len(syncs) < 12  # deliveries shared fsyncs of new/
    tmp_dir = str(tmp_path / "mail" / USER / "tmp")
    qid_of = {f.name: ids[int(re.search(rb"Subject: m(\d+)", f.read_bytes())[1])]
              for f in maildir_files(tmp_path)}
    for linked in links:
        _, src, dst = events[linked]
        assert ("fsync", f"{tmp_dir}/{src}") in events[:linked]
        removed = next(i for i, (kind, path, *_) in enumerate(events)
                       if kind == "unlink" and path.endswith(f"/active/{qid_of[dst]}"))
        assert any(linked < s < removed for s in syncs), qid_of[dst]


def test_on_a_slow_disk_a_plain_delivery_goes_to_a_thread_resolved_once_and_synced(
        tmp_path, monkeypatch):
    # the offload has found the disk slow: a thread writes, fsyncs and links the file, with
    # what the loop already resolved (the .forward is looked for once); new/ is the queue
    # manager's to fsync
    use_log(tmp_path)
    agent = LocalAgent(make_config(tmp_path), offload=Offload(0.0))
    looked: list[str] = []
    real = LocalAgent._read_forward
    monkeypatch.setattr(LocalAgent, "_read_forward",
                        lambda self, pw, ext: looked.append(pw.pw_name) or real(self, pw, ext))
    request = DeliveryRequest("QID", envelope("a@example.org", RCPT), Recipient(RCPT),
                              message("slow disk"))

    async def go() -> tuple[bool, list]:
        finished, value = eager.start(agent.deliver(request))
        return finished, value if finished else await value

    finished, outcomes = run(go())
    assert not finished  # it went to a thread
    new_dir = str(tmp_path / "mail" / USER / "new")
    assert [(o.status, o.unsynced) for o in outcomes] == [("sent", new_dir)]
    assert looked == [USER]
    assert len(maildir_files(tmp_path)) == 1


def test_a_fifo_as_forward_file_is_ignored_and_blocks_nothing(tmp_path):
    # on the master's loop a blocking open would stop every delivery
    (tmp_path / "fwd").mkdir()
    os.mkfifo(tmp_path / "fwd" / f"{USER}.forward")
    cfg = make_config(tmp_path, f"forward_path = {tmp_path}/fwd/$user.forward\n")
    use_log(tmp_path)
    agent = LocalAgent(cfg, offload=Offload(None))
    request = DeliveryRequest("QID", envelope("a@example.org", RCPT), Recipient(RCPT),
                              message("fifo"))
    statuses: list[str] = []
    worker = threading.Thread(target=lambda: statuses.extend(
        o.status for o in run(agent.deliver(request))), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "delivery blocked on the FIFO"
    assert statuses == ["sent"]
    assert len(maildir_files(tmp_path)) == 1


def test_on_the_loop_a_maildir_that_cannot_be_synced_defers_and_keeps_the_message(
        tmp_path, monkeypatch):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    new_dir = str(tmp_path / "mail" / USER / "new")
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}") == new_dir:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    async def go() -> str:
        qid = await queue_message(cfg, envelope("a@example.org", RCPT), message("eio"))
        monkeypatch.setattr(os, "fsync", fsync)
        await run_qmgr(cfg, inline_io=True, until_empty=False)
        return qid

    qid = run(go())
    assert re.search(rf"{qid}: to=<{RCPT}>, .*status=deferred \(maildir delivery failed: "
                     rf"sync {re.escape(new_dir)}: Input/output error\)", read_log(tmp_path))
    assert list(store_for(cfg).iterate("deferred")) == [qid]  # still queued: nothing lost


def test_a_retry_counts_its_time_in_the_deferred_queue_before_the_queue_manager(tmp_path):
    """delays=a/b/c/d: a is all the time before this attempt's entry to active."""
    import time
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    deliver(cfg, envelope(RCPT, "someone@remote.example", arrival=time.time() - 30),
            message("slow"), until_empty=False)
    run(run_qmgr(cfg, until_empty=False, settle=2.5))  # a second attempt, from deferred
    attempts = re.findall(r"to=<someone@remote\.example>, relay=none, delay=[\d.]+, "
                          r"delays=([\d.]+)/([\d.]+)/", read_log(tmp_path))
    assert len(attempts) >= 2
    a, b = map(float, attempts[-1])
    assert a >= 30 and b < 5
