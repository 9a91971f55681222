"""Protections: line length, error and junk limits, tarpitting, per-request deadlines."""

from __future__ import annotations

import time


def test_overlong_command_is_truncated_and_logged(smtpd):
    server = smtpd("line_length_limit = 600\n")
    c = server.client()
    c.send(b"NOOP " + b"a" * 2000 + b"\r\n")
    assert c.reply() == "250 2.0.0 Ok"
    assert c.cmd("NOOP") == "250 2.0.0 Ok"  # the rest of the long line was discarded
    assert server.wait_log("request longer").endswith(
        "warning: unknown[127.0.0.1]: request longer than 600: NOOP " + "a" * 25 + "...")


def test_overlong_command_in_pieces(smtpd):
    server = smtpd("line_length_limit = 600\n")
    c = server.client()
    c.send(b"VRFY " + b"b" * 700)
    time.sleep(0.1)
    c.send(b"c" * 700 + b"\r\nNOOP\r\n")
    assert c.reply() == "252 2.0.0 " + "b" * 595
    assert c.reply() == "250 2.0.0 Ok"


def test_hard_error_limit(smtpd):
    server = smtpd("smtpd_hard_error_limit = 3\n")
    c = server.client()
    assert c.cmd("BOGUS1").startswith("500 ")
    assert c.cmd("RCPT TO:<a@example.jp>").startswith("503 ")
    assert c.cmd("BOGUS3").startswith("500 ")
    assert c.reply() == "421 4.7.0 mx.example.jp Error: too many errors"
    assert c.closed()
    assert server.wait_log("too many errors").endswith(
        "too many errors after UNKNOWN from unknown[127.0.0.1]")
    assert server.wait_log("disconnect").endswith("rcpt=0/1 unknown=0/2 commands=0/3")


def test_soft_error_limit_delays_the_replies_after_it(smtpd):
    """As Postfix: the reply to the error that reaches the limit goes at once, every reply
    after it waits smtpd_error_sleep_time."""
    server = smtpd("smtpd_soft_error_limit = 1\nsmtpd_error_sleep_time = 1s\n")
    c = server.client()
    start = time.monotonic()
    assert c.cmd("BOGUS").startswith("500 ")  # the error that reaches the soft limit
    assert time.monotonic() - start < 0.5
    start = time.monotonic()
    assert c.cmd("NOOP") == "250 2.0.0 Ok"  # delayed by the tarpit
    assert time.monotonic() - start >= 0.9


def test_the_tarpit_does_not_count_against_the_timeout(smtpd):
    """A client that answers at once is never timed out for the server's own delays: it gets
    `too many errors` (what fail2ban looks for), not `timeout exceeded`."""
    server = smtpd("smtpd_soft_error_limit = 1\nsmtpd_error_sleep_time = 1s\n"
                   "smtpd_hard_error_limit = 5\nsmtpd_timeout = 2s\n")
    c = server.client()
    for _ in range(5):  # 4 replies delayed by 1 s each: 4 s against a 2 s timeout
        assert c.cmd("BOGUS").startswith("500 ")
    assert c.reply() == "421 4.7.0 mx.example.jp Error: too many errors"
    assert server.wait_log("too many errors").endswith(
        "too many errors after UNKNOWN from unknown[127.0.0.1]")


def test_successful_message_resets_the_error_count(smtpd):
    server = smtpd("smtpd_hard_error_limit = 3\n")
    c = server.client()
    c.cmd("EHLO client.example")
    c.cmd("BOGUS")
    c.cmd("BOGUS")
    c.to_data()
    c.send(b"x\r\n.\r\n")
    server.assert_queued(c.reply())
    assert c.cmd("BOGUS").startswith("500 ")
    assert c.cmd("BOGUS").startswith("500 ")
    assert c.cmd("NOOP") == "250 2.0.0 Ok"


def test_junk_commands_beyond_the_limit_count_as_errors(smtpd):
    server = smtpd("smtpd_junk_command_limit = 2\nsmtpd_hard_error_limit = 2\n")
    c = server.client()
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    assert c.cmd("RSET") == "250 2.0.0 Ok"
    assert c.cmd("NOOP") == "250 2.0.0 Ok"  # junk 3 > 2: error 1
    assert c.cmd("NOOP") == "250 2.0.0 Ok"  # error 2
    assert c.reply() == "421 4.7.0 mx.example.jp Error: too many errors"


def test_timeout_between_commands(smtpd):
    server = smtpd("smtpd_timeout = 1s\n")
    c = server.client()
    c.cmd("EHLO client.example")
    c.send(b"NOOP")  # an incomplete request does not extend the deadline
    assert c.reply() == "421 4.4.2 mx.example.jp Error: timeout exceeded"
    assert c.closed()
    assert server.wait_log("timeout after").endswith(
        "timeout after EHLO from unknown[127.0.0.1]")


def test_timeout_in_data_reports_bytes(smtpd):
    server = smtpd("smtpd_timeout = 1s\nsmtpd_min_data_rate = 1000000\n")
    c = server.client()
    c.cmd("EHLO client.example")
    c.to_data()
    c.send(b"Subject: slow\r\n")
    assert c.reply() == "421 4.4.2 mx.example.jp Error: timeout exceeded"
    assert server.wait_log("timeout after").endswith(
        "timeout after DATA (15 bytes) from unknown[127.0.0.1]")
    server.wait_log("disconnect from")
    qid = server.queue_id()
    assert server.cleanup.abandoned == [qid] and not server.cleanup.present(qid)


def test_lost_connection_is_logged_with_the_stage(smtpd):
    server = smtpd()
    c = server.client()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@example.org>")
    c.close()
    assert server.wait_log("lost connection").endswith(
        "lost connection after MAIL from unknown[127.0.0.1]")
    assert server.wait_log("disconnect from").endswith(
        "disconnect from unknown[127.0.0.1] ehlo=1 mail=1 commands=2")


def test_no_lost_connection_after_end_of_message(smtpd):
    server = smtpd()
    c = server.client()
    c.cmd("EHLO client.example")
    c.to_data()
    c.send(b"x\r\n.\r\n")
    c.reply()
    c.close()
    server.wait_log("disconnect from")
    assert "lost connection" not in server.log


def test_connection_count_limit(smtpd):
    server = smtpd("smtpd_client_connection_count_limit = 2\n")
    first, second = server.client(), server.client()
    third = server.client(greet=False)
    assert third.reply() == "421 4.7.0 mx.example.jp Error: too many connections from 127.0.0.1"
    assert third.closed()
    assert "warning: Connection concurrency limit exceeded: 3 from unknown[127.0.0.1] for " \
           "service smtp" in server.wait_log("concurrency limit")
    first.cmd("QUIT")
    server.wait_log("quit=1")
    assert server.client().cmd("NOOP") == "250 2.0.0 Ok"
    assert second.cmd("NOOP") == "250 2.0.0 Ok"


def test_connection_count_limit_exceptions(smtpd):
    server = smtpd("smtpd_client_connection_count_limit = 1\nmynetworks = 127.0.0.0/8\n")
    server.client()
    assert server.client().cmd("NOOP") == "250 2.0.0 Ok"


def test_lost_connection_in_data_reports_bytes(smtpd):
    server = smtpd()
    c = server.client()
    c.cmd("EHLO client.example")
    c.to_data()
    c.send(b"Subject: gone\r\n\r\n")
    time.sleep(0.1)
    c.close()
    assert server.wait_log("lost connection").endswith(
        "lost connection after DATA (17 bytes) from unknown[127.0.0.1]")
    # the DATA that never ended counts as a failed command, as Postfix counts it
    assert server.wait_log("disconnect from").endswith(
        "ehlo=1 mail=1 rcpt=1 data=0/1 commands=3/4")


def test_lost_connection_in_bdat_reports_bytes_and_counts_the_bdat(smtpd):
    server = smtpd()
    c = server.client()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@example.org>")
    c.cmd("RCPT TO:<b@example.jp>")
    c.send(b"BDAT 100 LAST\r\nSubject: gone\r\n")
    time.sleep(0.1)
    c.close()
    assert server.wait_log("lost connection").endswith(
        "lost connection after BDAT (15 bytes) from unknown[127.0.0.1]")
    assert server.wait_log("disconnect from").endswith(
        "ehlo=1 mail=1 rcpt=1 bdat=0/1 commands=3/4")


def test_unknown_commands_restart_the_timeout_as_any_request(smtpd):
    server = smtpd("smtpd_timeout = 1s\n")
    c = server.client()
    for _ in range(4):  # 2.4 s of activity against a 1 s timeout
        time.sleep(0.6)
        assert c.cmd("BOGUS").startswith("500 ")
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
