"""Mail log lines smtpd writes (smtp-and-logs.md §4), as fail2ban and pflogsumm read them."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

LINE = re.compile(r"[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d mx (\S+)\[\d+\]: (.*)")


def _lines(server):
    return [LINE.fullmatch(line).groups() for line in server.log.splitlines()]


def test_session_lines_in_order(smtpd):
    server = smtpd()
    c = server.client()
    c.cmd("EHLO client.example")
    c.to_data()
    c.send(b"x\r\n.\r\n")
    qid = server.assert_queued(c.reply())
    c.cmd("QUIT")
    server.wait_log("disconnect from")
    # 127.0.0.1 is this host's address: cleanup adds the missing Message-Id, as for sendmail
    stored = server.cleanup.store.read("incoming", qid).content
    message_id = stored.split(b"Message-Id: ", 1)[1].split(b"\n", 1)[0].decode()
    assert _lines(server) == [
        ("postfix/smtpd", "connect from unknown[127.0.0.1]"),
        ("postfix/smtpd", f"{qid}: client=unknown[127.0.0.1]"),
        ("postfix/cleanup", f"{qid}: message-id={message_id}"),
        ("postfix/smtpd", "disconnect from unknown[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 "
                          "quit=1 commands=5"),
    ]


def test_service_syslog_name_from_master_cf_override(smtpd):
    server = smtpd(overrides={"syslog_name": "postfix/submission"})
    c = server.client()
    c.cmd("QUIT")
    server.wait_log("disconnect from")
    assert {tag for tag, _ in _lines(server)} == {"postfix/submission/smtpd"}


def test_no_commands_at_all(smtpd):
    server = smtpd()
    c = server.client()
    c.close()
    assert server.wait_log("disconnect from").endswith(
        "disconnect from unknown[127.0.0.1] commands=0/0")
    assert "lost connection after CONNECT from unknown[127.0.0.1]" in server.log


def test_fail2ban_matches_the_reject_lines(smtpd, tmp_path):
    """Debian's fail2ban postfix filter must find the client in smtpd's own reject lines."""
    regex = shutil.which("fail2ban-regex")
    if regex is None:
        pytest.skip("fail2ban-regex is not installed")
    server = smtpd("smtpd_hard_error_limit = 2\n")
    c = server.client()
    c.cmd("BOGUS")
    c.cmd("BOGUS")
    c.reply()
    server.wait_log("disconnect from")
    logfile = tmp_path / "mail.log"
    logfile.write_text(server.log)
    out = subprocess.run([regex, str(logfile), "postfix[mode=aggressive]"],
                         capture_output=True, text=True, timeout=60).stdout
    assert re.search(r"Failregex: [1-9]\d* total", out), out
