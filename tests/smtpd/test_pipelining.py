"""RFC 2920 pipelining, the illegal-pipelining flag (restrictions.md §7), pre-greeting talk."""

from __future__ import annotations

import time

from smtpd_helpers import ScriptedPolicy

from affix.policy.request import Stage


def test_pipelined_commands_get_replies_in_one_batch(smtpd):
    server = smtpd()
    c = server.client()
    c.cmd("EHLO client.example")
    c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.jp>\r\nRCPT TO:<>\r\n"
           b"RCPT TO:<c@example.jp>\r\nDATA\r\n")
    time.sleep(0.2)
    batch = c.sock.recv(65536)
    assert batch == (b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n501 5.1.3 Bad recipient address syntax"
                     b"\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
    c.send(b"hi\r\n.\r\nQUIT\r\n")
    server.assert_queued(c.reply())
    assert c.reply() == "221 2.0.0 Bye"
    assert "improper" not in server.log


def test_pipelining_after_ehlo_is_a_protocol_violation(smtpd):
    server = smtpd()
    c = server.client()
    c.send(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n")
    assert c.reply() == "554 5.5.0 Error: SMTP protocol synchronization"
    assert c.closed()
    line = server.wait_log("improper command pipelining")
    assert line.endswith("improper command pipelining after EHLO from unknown[127.0.0.1]: "
                         "MAIL FROM:<a@example.org>\\r\\n")
    assert server.wait_log("disconnect from").endswith(  # the refused EHLO counts as failed
        "disconnect from unknown[127.0.0.1] ehlo=0/1 commands=0/1")


def test_pipelining_without_esmtp_sets_the_flag_when_allowed(smtpd):
    policy_seen = []

    class Flagged:
        async def check(self, stage, state):
            from affix.policy.request import Verdict

            policy_seen.append(state.illegal_pipelining)
            return Verdict()

    server = smtpd("smtpd_forbid_unauth_pipelining = no\n", policy=Flagged())
    c = server.client()
    c.cmd("HELO client.example")
    c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.jp>\r\n")
    assert c.reply() == "250 2.1.0 Ok"
    assert c.reply() == "250 2.1.5 Ok"
    assert policy_seen == [True]
    assert "improper command pipelining after MAIL from unknown[127.0.0.1]: RCPT TO:" \
           "<b@example.jp>\\r\\n" in server.wait_log("improper")


def test_talking_before_the_greeting(smtpd):
    # delay_reject=no runs the client restrictions before the greeting; a slow engine
    # makes sure the client's early words arrive first.
    server = smtpd("smtpd_delay_reject = no\n", policy=ScriptedPolicy(delay=0.3))
    c = server.client(greet=False)
    c.send(b"EHLO early.example\r\n")
    assert c.reply() == "554 5.5.0 Error: SMTP protocol synchronization"
    assert c.closed()
    assert server.wait_log("improper").endswith(
        "improper command pipelining after CONNECT from unknown[127.0.0.1]: "
        "EHLO early.example\\r\\n")


def test_talking_before_the_greeting_only_flags_when_allowed(smtpd):
    policy = ScriptedPolicy(delay=0.3)
    server = smtpd("smtpd_delay_reject = no\nsmtpd_forbid_unauth_pipelining = no\n",
                   policy=policy)
    c = server.client(greet=False)
    c.send(b"EHLO early.example\r\n")
    assert c.reply().startswith("220 ")
    assert c.reply().startswith("250-mx.example.jp")
    assert Stage.CONNECT in policy.stages
    server.wait_log("improper command pipelining after CONNECT")


def test_starttls_is_not_subject_to_the_flag(smtpd):
    """Data after STARTTLS is discarded rather than flagged (see test_tls)."""
    c = smtpd().client()
    c.cmd("EHLO client.example")
    c.send(b"STARTTLS\r\nNOOP\r\n")
    assert c.reply() == "502 5.5.1 Error: command not implemented"
    assert c.reply() == "250 2.0.0 Ok"
