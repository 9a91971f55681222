"""DATA and BDAT content: dot-unstuffing, the Received header, sizes, bare LF and smuggling."""

from __future__ import annotations

import re
import time

import pytest

from affix.smtpd.received import rfc2822_date


def _open_transaction(c, rcpts=("b@example.jp",)):
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    for r in rcpts:
        assert c.cmd(f"RCPT TO:<{r}>") == "250 2.1.5 Ok"


def _body(content: bytes) -> bytes:
    """The message without smtpd's Received header."""
    assert content.startswith(b"Received: from ")
    return content.split(b"\n", 3)[3]


def test_dot_unstuffing_and_lf_line_ends(smtpd):
    server = smtpd()
    c = server.client()
    _open_transaction(c)
    assert c.cmd("DATA") == "354 End data with <CR><LF>.<CR><LF>"
    c.send(b"Subject: dots\r\n\r\n..leading dot\r\n..\r\n...\r\nx.\r\n.\r\n")
    server.assert_queued(c.reply())
    assert _body(server.cleanup.messages[0][1]) == b"Subject: dots\n\n.leading dot\n.\n..\nx.\n"


def test_empty_message(smtpd):
    server = smtpd()
    c = server.client()
    _open_transaction(c)
    c.cmd("DATA")
    c.send(b".\r\n")
    server.assert_queued(c.reply())
    assert _body(server.cleanup.messages[0][1]) == b""


def test_received_header_for_one_recipient(smtpd):
    server = smtpd()
    c = server.client()
    _open_transaction(c)
    c.cmd("DATA")
    c.send(b"Subject: r\r\n\r\nbody\r\n.\r\n")
    qid = server.assert_queued(c.reply())
    received = server.cleanup.messages[0][1].decode().split("Subject:")[0]
    assert re.fullmatch(
        r"Received: from client\.example \(unknown \[127\.0\.0\.1\]\)\n"
        rf"\tby mx\.example\.jp \(affix\) with ESMTP id {qid}\n"
        r"\tfor <b@example\.jp>; [A-Z][a-z]{2}, [ 123]\d [A-Z][a-z]{2} \d{4} "
        r"\d\d:\d\d:\d\d [+-]\d{4} \(.+\)\n", received), received


def test_received_header_for_two_recipients_and_helo(smtpd):
    server = smtpd()
    c = server.client()
    c.cmd("HELO client.example")
    c.to_data("b@example.jp", "c@example.jp")
    c.send(b"x\r\n.\r\n")
    qid = server.assert_queued(c.reply())
    lines = server.cleanup.messages[0][1].decode().split("\n")
    assert lines[1] == f"\tby mx.example.jp (affix) with SMTP id {qid};"
    assert lines[2].startswith("\t") and "for <" not in lines[2]
    envelope = server.cleanup.messages[0][0]
    assert envelope.protocol == "SMTP"
    assert [r.address for r in envelope.recipients] == ["b@example.jp", "c@example.jp"]


def test_mbox_from_line_becomes_x_mailbox_line(smtpd):
    server = smtpd()
    c = server.client()
    _open_transaction(c)
    c.cmd("DATA")
    c.send(b"From a@example.org Tue Jul 23 11:00:40 2024\r\nSubject: m\r\n\r\nx\r\n.\r\n")
    server.assert_queued(c.reply())
    assert _body(server.cleanup.messages[0][1]).startswith(
        b"X-Mailbox-Line: From a@example.org Tue Jul 23 11:00:40 2024\nSubject: m\n")


def test_message_over_size_limit_is_not_queued(smtpd):
    server = smtpd("message_size_limit = 1000\n")
    c = server.client()
    _open_transaction(c)
    c.cmd("DATA")
    c.send(b"Subject: big\r\n\r\n" + b"x" * 78 + b"\r\n" * 1 + (b"y" * 78 + b"\r\n") * 20)
    c.send(b".\r\n")
    assert c.reply() == "552 5.3.4 Error: message file too big"
    qid = server.queue_id()
    assert server.cleanup.messages == []
    assert server.cleanup.abandoned == [qid] and not server.cleanup.present(qid)
    assert server.wait_log("queue file size limit").endswith(
        f"warning: {qid}: queue file size limit exceeded")
    # the session goes on
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"


def test_large_message_in_many_reads(smtpd):
    server = smtpd()
    c = server.client()
    _open_transaction(c)
    c.cmd("DATA")
    line = b".stuffed " + b"z" * 990 + b"\r\n"
    for _ in range(300):  # 300 KB: processed early, in pieces
        c.send(line)
    c.send(b".\r\n")
    server.assert_queued(c.reply())
    body = _body(server.cleanup.messages[0][1])
    assert body == (b"stuffed " + b"z" * 990 + b"\n") * 300


def test_smuggling_bare_lf_dot_does_not_end_the_message(smtpd):
    """SMTP smuggling: with normalize, `\\n.\\n`, `\\r\\n.\\n`, `\\n.\\r\\n` and `\\r.\\r`
    inside the content are content; a smuggled second MAIL never becomes a command."""
    server = smtpd()
    c = server.client()
    _open_transaction(c)
    c.cmd("DATA")
    smuggled = (b"Subject: one\r\n\r\nbody\n.\nMAIL FROM:<evil@example.org>\r\n"
                b"x\r\n.\nRCPT TO:<victim@example.jp>\r\n"
                b"y\n.\r\nDATA\r\nz\r.\rQUIT\r\n.\r\n")
    c.send(smuggled)
    server.assert_queued(c.reply())
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    assert len(server.cleanup.messages) == 1
    body = _body(server.cleanup.messages[0][1])
    assert b"MAIL FROM:<evil@example.org>" in body and b"RCPT TO:<victim" in body
    assert b"z . QUIT" in body  # its bare CRs stored as spaces


def test_bare_lf_ends_lines_and_dot_in_mode_no(smtpd):
    server = smtpd("smtpd_forbid_bare_newline = no\n")
    c = server.client()
    _open_transaction(c)
    c.cmd("DATA")
    c.send(b"Subject: old\n\nbody\n.\n")
    server.assert_queued(c.reply())
    assert _body(server.cleanup.messages[0][1]) == b"Subject: old\n\nbody\n"


@pytest.mark.parametrize("mode", ["no", "normalize"])
def test_a_bare_cr_in_the_content_is_stored_as_a_space(smtpd, mode):
    """As Postfix stores it: a `<CR>.<CR>` kept raw could end the message at a later hop
    that reads a CR as a line end. DATA and BDAT alike."""
    server = smtpd(f"smtpd_forbid_bare_newline = {mode}\n")
    c = server.client()
    _open_transaction(c)
    c.cmd("DATA")
    c.send(b"X-H: a\rb\r\n\r\nline1\rstill1\r\r\n\r.\rMAIL FROM:<x@y>\r\n.\r\n")
    server.assert_queued(c.reply())
    assert _body(server.cleanup.messages[0][1]) == (
        b"X-H: a b\n\nline1 still1\n . MAIL FROM:<x@y>\n")
    c.cmd("MAIL FROM:<a@example.org>")
    c.cmd("RCPT TO:<b@example.jp>")
    c.send(b"BDAT 12 LAST\r\nX-C: a\r\r\nb\r\n")
    assert c.reply().startswith("250 2.0.0 Ok: 12 bytes queued as ")
    assert _body(server.cleanup.messages[1][1]) == b"X-C: a\nb\n"  # CRs before LF dropped


def test_bare_lf_reject_mode_in_data(smtpd):
    server = smtpd("smtpd_forbid_bare_newline = reject\n")
    c = server.client()
    _open_transaction(c)
    c.cmd("DATA")
    c.send(b"Subject: x\r\n\r\nbare\nline\r\n.\r\n")
    assert c.reply() == "550 5.5.2 mx.example.jp Error: bare <LF> received"
    assert c.cmd("QUIT") == "221 2.0.0 Bye"  # the session goes on, as Postfix's does
    assert server.cleanup.messages == []
    server.wait_log("disconnect from")
    assert not server.cleanup.present(server.queue_id())
    assert re.search(r"\w+: reject: END-OF-MESSAGE from unknown\[127\.0\.0\.1\]: bare <LF> "
                     r"received; from=<", server.wait_log("bare <LF>"))


def test_bare_lf_reject_mode_in_a_command(smtpd):
    server = smtpd("smtpd_forbid_bare_newline = reject\n")
    c = server.client()
    assert c.cmd("EHLO client.example").startswith("250-")
    c.send(b"NOOP\n")
    assert c.reply() == "550 5.5.2 mx.example.jp Error: bare <LF> received"
    assert c.closed()
    # the line is not a command: the stage is the session's, after EHLO (Postfix's too)
    assert ("NOQUEUE: reject: EHLO from unknown[127.0.0.1]: bare <LF> received; proto=ESMTP "
            "helo=<client.example>") in server.wait_log("bare")


def test_bare_lf_exclusions_get_mode_no(smtpd):
    server = smtpd("smtpd_forbid_bare_newline = reject\n"
                   "smtpd_forbid_bare_newline_exclusions = 127.0.0.0/8\n")
    c = server.client()
    c.send(b"EHLO client.example\n")
    assert c.reply().startswith("250-mx.example.jp")


def test_bdat_chunks(smtpd):
    server = smtpd()
    c = server.client()
    _open_transaction(c)
    c.send(b"BDAT 12\r\nSubject: b\r\n")
    assert c.reply() == "250 2.0.0 Ok: 12 bytes"
    c.send(b"BDAT 9 LAST\r\n\r\n.body\r\n")
    # the whole message's size, as Postfix's reply to BDAT LAST gives it
    assert c.reply() == f"250 2.0.0 Ok: 21 bytes queued as {server.queue_id()}"
    assert server.cleanup.queued(server.queue_id())
    assert _body(server.cleanup.messages[0][1]) == b"Subject: b\n\n.body\n"
    c.cmd("QUIT")
    assert "bdat=2" in server.wait_log("disconnect from")


def test_bdat_errors(smtpd):
    server = smtpd()
    c = server.client()
    c.cmd("EHLO client.example")
    c.send(b"BDAT 3\r\nabc")
    assert c.reply() == "503 5.5.1 Error: need RCPT command"
    c.cmd("MAIL FROM:<a@example.org>")
    c.send(b"BDAT 3 LAST\r\nabc")
    assert c.reply() == "554 5.5.1 Error: no valid recipients"
    c.cmd("RCPT TO:<b@example.jp>")
    c.send(b"BDAT 3 MORE\r\nabc")
    assert c.reply() == "501 5.5.4 Syntax: BDAT count [LAST]"
    c.send(b"BDAT 3\r\nabc")
    assert c.reply() == "250 2.0.0 Ok: 3 bytes"
    assert c.cmd("DATA") == "503 5.5.1 Error: DATA after BDAT"
    assert c.cmd("RCPT TO:<c@example.jp>") == "503 5.5.1 Error: RCPT after BDAT"
    assert c.cmd("MAIL FROM:<a@example.org>") == "503 5.5.1 Error: MAIL after BDAT"
    assert c.cmd("BDAT x") == "521 5.5.4 Syntax: BDAT count [LAST]"
    assert c.closed()
    assert server.wait_log("malformed BDAT").endswith(
        f"warning: {server.queue_id()}: malformed BDAT command syntax from unknown[127.0.0.1]: "
        "BDAT x")


def test_bdat_over_size_limit(smtpd):
    server = smtpd("message_size_limit = 10\n")
    c = server.client()
    _open_transaction(c)
    c.send(b"BDAT 8\r\n12345678")
    assert c.reply() == "250 2.0.0 Ok: 8 bytes"
    c.send(b"BDAT 8 LAST\r\n12345678")
    assert c.reply() == "552 5.3.4 Chunk exceeds message size limit"
    assert server.wait_log("BDAT request").endswith(
        f"warning: {server.queue_id()}: BDAT request from unknown[127.0.0.1] exceeds message "
        "size limit")
    assert server.cleanup.messages == []
    assert not server.cleanup.present(server.queue_id())
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"


def test_the_received_date_is_when_mail_began_the_transaction(smtpd):
    server = smtpd()
    c = server.client()
    _open_transaction(c)
    time.sleep(1.1)  # the end of data falls in a later second
    assert c.cmd("DATA").startswith("354 ")
    server.assert_queued(c.cmd("Subject: t\r\n\r\nhello\r\n."))
    envelope, content = server.cleanup.messages[0]
    date = rfc2822_date(envelope.arrival)
    assert date != rfc2822_date(time.time())
    assert content.split(b"\n", 3)[2].endswith(f"; {date}".encode())


def test_dsn_parameters_are_kept_in_the_queue_file(smtpd):
    server = smtpd()
    c = server.client()
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ+2B314") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<b@example.jp> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;B+40example.jp"
                 ) == "250 2.1.5 Ok"
    assert c.cmd("RCPT TO:<c@example.jp>") == "250 2.1.5 Ok"
    c.cmd("DATA")
    qid = server.assert_queued(c.cmd("Subject: t\r\n\r\nhello\r\n."))
    env = server.cleanup.store.read("incoming", qid).envelope
    assert (env.ret, env.envid) == ("HDRS", "QQ+314")
    assert [(r.address, r.notify, r.orcpt) for r in env.recipients] == [
        ("b@example.jp", "SUCCESS,DELAY", "rfc822;B@example.jp"), ("c@example.jp", "", "")]


def test_a_client_that_half_closes_after_the_dot_still_gets_its_replies(smtpd):
    """EOF ends the input, not the replies: the 250 for a message ended with `.` (and the 221
    for a QUIT sent with it) still go out; without the 250 the client would send the message
    again. Input cut short in DATA is no message."""
    import socket

    server = smtpd()
    c = server.client()
    c.cmd("HELO client.example")
    c.to_data()
    c.send("Subject: hc\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    server.assert_queued(c.reply())
    assert c.reply() == "221 2.0.0 Bye"
    assert c.closed()
    assert server.wait_log("disconnect from").endswith(
        "disconnect from unknown[127.0.0.1] helo=1 mail=1 rcpt=1 data=1 quit=1 commands=5")

    c = server.client()
    c.cmd("HELO client.example")
    c.to_data()
    c.send("Subject: no quit\r\n\r\nbody\r\n.\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    server.assert_queued(c.reply(), n=1)
    assert c.closed()

    c = server.client()
    c.cmd("HELO client.example")
    c.to_data()
    c.send("Subject: cut\r\n\r\nbody without the end")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.closed() and c.pending == b""
    assert server.wait_log("lost connection after DATA")
    assert not server.cleanup.queued(server.queue_id(2))


def test_numbers_in_other_scripts_are_syntax_errors_not_crashes(smtpd):
    """'²' passes str.isdigit() but int() refuses it; '٣' int() reads as 3. Numbers on the
    wire are ASCII digits: anything else is the command's syntax error."""
    server = smtpd()
    c = server.client()
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<a@example.org> SIZE=¹²") == "501 5.5.4 Bad message size syntax"
    assert c.cmd("MAIL FROM:<a@example.org> SIZE=1٣") == "501 5.5.4 Bad message size syntax"
    c.cmd("MAIL FROM:<a@example.org>")
    c.cmd("RCPT TO:<b@example.jp>")
    assert c.cmd("BDAT ¹ LAST") == "521 5.5.4 Syntax: BDAT count [LAST]"
    assert c.closed()
    assert "internal error" not in server.log


def test_a_header_check_that_backtracks_without_end_defers_and_the_server_goes_on(
        smtpd, tmp_path):
    (tmp_path / "hc").write_text("/^Subject: (a|aa)+$/ REJECT evil\n")
    server = smtpd(f"header_checks = pcre:{tmp_path}/hc\n")
    c = server.client()
    c.cmd("HELO client.example")
    c.to_data()
    assert c.cmd("Subject: " + "a" * 60 + "b\r\n\r\nbody\r\n.") == (
        "451 4.3.0 Error: queue file write error")
    assert "matching took longer than the time allowed" in server.wait_log("pcre map")
    other = server.client()  # answered while and after the first session waits
    assert other.cmd("HELO other.example") == "250 mx.example.jp"
