"""`affix sendmail` end to end: a real subprocess submits, the queue manager delivers."""

import os
import pwd
import re
import subprocess

from hypothesis import given
from hypothesis import strategies as st

from affix.cli.sendmail import parse_args, read_message
from fixtures.processes import affix_cmd, affix_env
from fixtures.qhelp import (
    USER,
    maildir_files,
    make_config,
    pid_file_server,
    read_log,
    run,
    run_qmgr,
    store_for,
    use_log,
)

RCPT = f"{USER}@example.test"


def _sendmail(affix, tmp_path, *args, input):
    return affix("-c", str(tmp_path / "etc"), "sendmail", *args, input=input)


def _queued(cfg):
    store = store_for(cfg)
    return [store.read("incoming", q) for q in store.iterate("incoming")]


def test_sendmail_message_lands_in_the_maildir_after_a_qmgr_run(tmp_path, affix):
    cfg = make_config(tmp_path)
    result = _sendmail(affix, tmp_path, "-f", "a@example.org", RCPT,
                       input="From a@example.org Mon Jan  1 00:00:00 2024\r\n"
                             "Subject: hello\r\n\r\nbody\r\n.\r\nnot part of it\n")
    assert result.returncode == 0, result.stderr
    qid = re.search(rf"postfix/pickup\[\d+\]: (\w+): uid={os.getuid()} from=<a@example\.org>",
                    read_log(tmp_path)).group(1)
    use_log(tmp_path)  # the queue manager runs in this process, logging to the same file
    run(run_qmgr(cfg))
    [f] = maildir_files(tmp_path)
    data = f.read_text()
    assert data.startswith(f"Return-Path: <a@example.org>\nX-Original-To: {RCPT}\n"
                           f"Delivered-To: {RCPT}\nReceived: by mx.example.test (affix, "
                           f"from userid {os.getuid()})\n\tid {qid}; ")
    # the added From: names the user as the passwd entry does, as Postfix's sendmail does
    name = pwd.getpwuid(os.getuid()).pw_gecos.split(",")[0]
    added = f"\nFrom: {name} <a@example.org>\n" if name else "\nFrom: a@example.org\n"
    assert "\nSubject: hello\n" in data and added in "\n" + data
    assert data.endswith("\n\nbody\n") and "\r" not in data and "From a@" not in data
    assert re.search(rf"{qid}: to=<{RCPT}>, relay=local, .*status=sent \(delivered to maildir\)",
                     read_log(tmp_path))


def test_sendmail_t_takes_recipients_from_the_headers(tmp_path, affix):
    cfg = make_config(tmp_path)
    message = ("To: One <one@example.test>, two@example.test\nCc: three\n"
               "Bcc: hidden@example.test\nSubject: t\n\nfirst\n.\nstill the body\n")
    result = _sendmail(affix, tmp_path, "-t", "-oi", "-f", "a@example.org", "extra@example.test",
                       input=message)
    assert result.returncode == 0, result.stderr
    [msg] = _queued(cfg)
    assert [r.address for r in msg.envelope.recipients] == [
        "extra@example.test", "one@example.test", "two@example.test",
        "three@mx.example.test", "hidden@example.test"]
    assert b"Bcc:" not in msg.content
    assert msg.content.endswith(b"\nfirst\n.\nstill the body\n")


def test_sendmail_resent_headers_take_precedence_with_t(tmp_path, affix):
    cfg = make_config(tmp_path)
    result = _sendmail(affix, tmp_path, "-t", input="To: old@example.test\n"
                       "Resent-To: new@example.test\nSubject: r\n\nbody\n")
    assert result.returncode == 0, result.stderr
    [msg] = _queued(cfg)
    assert [r.address for r in msg.envelope.recipients] == ["new@example.test"]
    assert msg.envelope.sender == f"{USER}@mx.example.test"  # login name @ $myorigin


def test_sendmail_without_recipients_is_a_usage_error(tmp_path, affix):
    cfg = make_config(tmp_path)
    result = _sendmail(affix, tmp_path, input="Subject: x\n\nbody\n")
    assert result.returncode == os.EX_USAGE
    assert "Recipient addresses must be specified on the command line or via the -t option" \
        in result.stderr
    result = _sendmail(affix, tmp_path, "-t", input="Subject: x\n\nbody\n")
    assert "No recipient addresses found in message header" in result.stderr
    assert _queued(cfg) == []


def test_sendmail_content_reject_bounces_to_the_sender(tmp_path, affix):
    (tmp_path / "hc").write_text("/^Subject: spam/ REJECT 5.7.1 go away\n")
    cfg = make_config(tmp_path, f"header_checks = regexp:{tmp_path}/hc\n")
    result = _sendmail(affix, tmp_path, "-f", "a@example.org", RCPT,
                       input="Subject: spam\n\nbody\n")
    assert result.returncode == 0, result.stderr
    text = read_log(tmp_path)
    qid = re.search(r"cleanup\[\d+\]: (\w+): reject: header Subject: spam from local; "
                    rf"from=<a@example\.org> to=<{RCPT}>: 5\.7\.1 go away", text).group(1)
    assert f"{qid}: to=<{RCPT}>, relay=none, " in text and "status=bounced (go away)" in text
    new_id = re.search(rf"{qid}: sender non-delivery notification: (\w+)", text).group(1)
    [notice] = _queued(cfg)
    assert notice.queue_id == new_id and notice.envelope.sender == ""
    assert [r.address for r in notice.envelope.recipients] == ["a@example.org"]
    assert b"Status: 5.7.1" in notice.content


def test_sendmail_content_reject_with_N_never_sends_no_notice(tmp_path, affix):
    (tmp_path / "hc").write_text("/^Subject: spam/ REJECT 5.7.1 go away\n")
    cfg = make_config(tmp_path, f"header_checks = regexp:{tmp_path}/hc\n")
    result = _sendmail(affix, tmp_path, "-N", "never", "-f", "a@example.org", RCPT,
                       input="Subject: spam\n\nbody\n")
    assert result.returncode == 0, result.stderr
    assert "status=bounced (go away)" in read_log(tmp_path)
    assert "notification" not in read_log(tmp_path)
    assert _queued(cfg) == []


def test_sendmail_temporary_reject_exits_tempfail(tmp_path, affix):
    (tmp_path / "hc").write_text("/^Subject: later/ REJECT 4.7.1 not now\n")
    cfg = make_config(tmp_path, f"header_checks = regexp:{tmp_path}/hc\n")
    result = _sendmail(affix, tmp_path, RCPT, input="Subject: later\n\nbody\n")
    assert result.returncode == os.EX_TEMPFAIL
    assert "451 4.7.1 not now" in result.stderr
    assert _queued(cfg) == []


def test_sendmail_wakes_a_running_server(tmp_path, affix):
    """New mail wakes the queue manager for the incoming queue only (SIGUSR2): a flush
    (SIGUSR1) would retry every deferred message before its backoff is over."""
    make_config(tmp_path)
    with pid_file_server(tmp_path) as server:
        result = _sendmail(affix, tmp_path, RCPT, input="Subject: wake\n\nbody\n")
        assert result.returncode == 0, result.stderr
        assert server.stdout.readline() == "SIGUSR2\n"


def test_sendmail_bi_builds_aliases_and_bp_lists_the_queue(tmp_path, affix):
    (tmp_path / "aliases").write_text(f"postmaster: {USER}\n")
    make_config(tmp_path, f"alias_database = hash:{tmp_path}/aliases\n")
    result = _sendmail(affix, tmp_path, "-bi", input="")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "aliases.lmdb").exists()
    result = _sendmail(affix, tmp_path, "-bp", input="")
    assert result.returncode == 0 and result.stdout == "Mail queue is empty\n"
    _sendmail(affix, tmp_path, "-f", "a@example.org", RCPT, input="Subject: q\n\nx\n")
    result = _sendmail(affix, tmp_path, "-bp", input="")
    assert "a@example.org" in result.stdout and RCPT in result.stdout


def test_option_parsing_follows_postfix_sendmail():
    opts = parse_args(["-oi", "-fsender@x", "-N", "success,delay", "-B8BITMIME", "-odi",
                       "-oem", "-v", "-F", "Full Name", "r@x"])
    assert (opts.sender, opts.dot_ends_input, opts.notify, opts.body_type, opts.recipients) == \
        ("sender@x", False, "SUCCESS,DELAY", "8BITMIME", ["r@x"])
    assert parse_args(["-q"]).mode == "flush" and parse_args(["-q30m"]).mode == "ignore"
    assert parse_args(["-I"]).mode == "newaliases"


_lines = st.lists(st.text(alphabet="ab .\r>Fromx:", max_size=8), max_size=8)


@given(_lines)
def test_read_message_never_keeps_crlf_and_keeps_lines_with_i(lines):
    data = "".join(ln + "\n" for ln in lines).encode()
    out = read_message(data, dot_ends_input=False)
    assert b"\r\n" not in out
    body = [ln.rstrip("\r") for ln in lines]
    while body and body[0].lstrip(">").startswith("From "):
        body.pop(0)
    assert out == ("\n".join(body) + "\n").encode() if body else out == b""


def test_a_bare_user_name_is_kept_as_the_original_recipient(tmp_path, affix):
    """Cron's `sendmail root`: Postfix logs orig_to=<root> and writes X-Original-To: root."""
    cfg = make_config(tmp_path)
    assert _sendmail(affix, tmp_path, USER, input="Subject: cron\n\nx\n").returncode == 0
    use_log(tmp_path)
    run(run_qmgr(cfg))
    [f] = maildir_files(tmp_path)
    assert f"\nX-Original-To: {USER}\n" in "\n" + f.read_text()
    assert re.search(rf"to=<{USER}@[\w.]+>, orig_to=<{USER}>, relay=local, .*status=sent",
                     read_log(tmp_path))


def test_closed_stdin_is_an_empty_message_and_q_with_an_interval_does_nothing(tmp_path):
    make_config(tmp_path)
    base = [*affix_cmd("-c", str(tmp_path / "etc"), "sendmail")]
    done = subprocess.run(base + [USER], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=affix_env(), timeout=60, close_fds=True,
                          preexec_fn=lambda: os.close(0))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    idle = subprocess.run(base + ["-q30m"], stdin=subprocess.PIPE, capture_output=True,
                          text=True, env=affix_env(), timeout=10)  # never reads stdin
    assert idle.returncode == 0 and idle.stdout == idle.stderr == ""


def test_flush_with_the_mail_system_down_says_so(tmp_path, affix):
    make_config(tmp_path)
    (tmp_path / "data").mkdir()
    stray = subprocess.Popen(["sleep", "30"])  # a process whose pid a stale pid file names
    try:
        (tmp_path / "data" / "affix.pid").write_text(f"{stray.pid}\n")
        done = affix("-c", str(tmp_path / "etc"), "flush")
        assert done.returncode == os.EX_UNAVAILABLE
        assert "Cannot flush mail queue - mail system is down" in done.stderr
        assert stray.poll() is None  # not signalled: nobody holds the pid file's lock
    finally:
        stray.kill()
        stray.wait()


def test_F_or_NAME_names_the_sender_in_the_added_from_header(tmp_path, affix):
    cfg = make_config(tmp_path)
    env = {**affix_env(), "NAME": "Env Name"}
    base = affix_cmd("-c", str(tmp_path / "etc"), "sendmail", "-f", "joe@example.org")
    for extra in (["-F", "Joe Q. Tester"], []):  # $NAME when there is no -F
        done = subprocess.run([*base, *extra, RCPT], input="Subject: n\n\nx\n", env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    froms = sorted(m.content.split(b"\nFrom: ", 1)[1].split(b"\n", 1)[0].decode()
                   for m in _queued(cfg))
    assert froms == sorted(['"Joe Q. Tester" <joe@example.org>', "Env Name <joe@example.org>"])
    done = subprocess.run([*base, "-F", "Ignored", RCPT], input="From: me@example.org\n\nx\n",
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0  # a message with its own From: keeps it
    assert sum(b"\nFrom: me@example.org\n" in b"\n" + m.content for m in _queued(cfg)) == 1


def test_bare_names_in_the_headers_of_a_local_submission_are_qualified(tmp_path, affix):
    cfg = make_config(tmp_path, "myorigin = example.test\n")
    message = ("From: joe\nTo: bob, Carol Q <carol>\nCc: root@elsewhere.example\n"
               "Reply-To: list:;\nSubject: cron\n\nbody joe\n")
    assert _sendmail(affix, tmp_path, RCPT, input=message).returncode == 0
    [queued] = _queued(cfg)
    headers = queued.content.split(b"\n\n", 1)[0].decode()
    assert "\nFrom: joe@example.test\n" in headers
    assert "\nTo: bob@example.test, Carol Q <carol@example.test>\n" in headers
    assert "\nCc: root@elsewhere.example\n" in headers  # already qualified: untouched
    assert "\nReply-To: list:;\n" in headers  # group syntax: left as written
    assert queued.content.endswith(b"\nbody joe\n")
