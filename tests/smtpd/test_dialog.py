"""Greeting, EHLO and the command replies of smtp-and-logs.md §1-2, through a real socket."""

from __future__ import annotations

import smtplib

import pytest

DEFAULT_EHLO = """250-mx.example.jp
250-PIPELINING
250-SIZE 10240000
250-VRFY
250-ETRN
250-ENHANCEDSTATUSCODES
250-8BITMIME
250-DSN
250-SMTPUTF8
250 CHUNKING"""


def test_greeting_is_the_expanded_banner(smtpd):
    server = smtpd("smtpd_banner = $myhostname ESMTP $mail_name (test)\n")
    c = server.client(greet=False)
    assert c.reply() == "220 mx.example.jp ESMTP affix (test)"


def test_ehlo_lists_postfix_keywords_in_order(smtpd):
    c = smtpd().client()
    assert c.cmd("EHLO client.example") == DEFAULT_EHLO


def test_discarded_ehlo_keywords_are_hidden_and_logged(smtpd):
    server = smtpd("smtpd_discard_ehlo_keywords = pipelining, DSN, etrn\n")
    c = server.client()
    reply = c.cmd("EHLO client.example")
    assert "PIPELINING" not in reply and "DSN" not in reply and "ETRN" not in reply
    assert "250-SIZE 10240000" in reply
    assert "discarding EHLO keywords: PIPELINING ETRN DSN" in server.wait_log("discarding")


def test_silent_discard_does_not_log(smtpd):
    server = smtpd("smtpd_discard_ehlo_keywords = silent-discard, dsn\n")
    c = server.client()
    assert "DSN" not in c.cmd("EHLO client.example")
    c.cmd("QUIT")
    server.wait_log("disconnect from")
    assert "discarding" not in server.log


def test_discarded_dsn_disables_dsn_parameters(smtpd):
    c = smtpd("smtpd_discard_ehlo_keywords = dsn\n").client()
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<a@example.org> RET=HDRS") == "501 5.7.1 DSN support is disabled"
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<b@example.jp> NOTIFY=NEVER") == "501 5.7.1 DSN support is disabled"


def test_discarded_chunking_makes_bdat_hang_up(smtpd):
    c = smtpd("smtpd_discard_ehlo_keywords = chunking\n").client()
    c.cmd("EHLO client.example")
    assert c.cmd("BDAT 10 LAST") == "521 5.5.1 Error: command not implemented"
    assert c.closed()


def test_discarded_vrfy_stays_usable_but_disable_vrfy_command_refuses(smtpd):
    c = smtpd("smtpd_discard_ehlo_keywords = vrfy\n").client()
    assert "VRFY" not in c.cmd("EHLO client.example")
    assert c.cmd("VRFY kororo") == "252 2.0.0 kororo"
    c2 = smtpd("disable_vrfy_command = yes\n").client()
    assert "VRFY" not in c2.cmd("EHLO client.example")
    assert c2.cmd("VRFY kororo") == "502 5.5.1 VRFY command is disabled"


def test_size_keyword_without_limit(smtpd):
    c = smtpd("message_size_limit = 0\n").client()
    assert "250-SIZE\n" in c.cmd("EHLO client.example")


def test_helo_and_ehlo_without_argument(smtpd):
    c = smtpd().client()
    assert c.cmd("HELO") == "501 Syntax: HELO hostname"
    assert c.cmd("EHLO") == "501 Syntax: EHLO hostname"
    assert c.cmd("HELO client.example") == "250 mx.example.jp"


def test_second_helo_resets_the_transaction(smtpd):
    c = smtpd().client()
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    c.cmd("EHLO client.example")
    assert c.cmd("RCPT TO:<b@example.jp>") == "503 5.5.1 Error: need MAIL command"


def test_mail_and_rcpt_replies(smtpd):
    server = smtpd()
    c = server.client()
    c.cmd("EHLO client.example")
    assert c.cmd("RCPT TO:<b@example.jp>") == "503 5.5.1 Error: need MAIL command"
    assert c.cmd("DATA") == "503 5.5.1 Error: need RCPT command"
    assert c.cmd("MAIL <a@example.org>") == "501 5.5.4 Syntax: MAIL FROM:<address>"
    assert c.cmd("MAIL FROM:<a b@example.org>") == "501 5.1.7 Bad sender address syntax"
    assert c.cmd("MAIL FROM:<a@example.org> SIZE=abc") == "501 5.5.4 Bad message size syntax"
    assert c.cmd("MAIL FROM:<a@example.org> FOO=1") == "555 5.5.4 Unsupported option: FOO=1"
    assert c.cmd("MAIL FROM:<a@example.org> AUTH=<>") == "250 2.1.0 Ok"  # ignored (no SASL)
    assert c.cmd("RSET") == "250 2.0.0 Ok"
    assert c.cmd("MAIL FROM: a@example.org") == "250 2.1.0 Ok"
    assert c.cmd("MAIL FROM:<a@example.org>") == "503 5.5.1 Error: nested MAIL command"
    assert c.cmd("DATA") == "554 5.5.1 Error: no valid recipients"
    assert c.cmd("RCPT <b@example.jp>") == "501 5.5.4 Syntax: RCPT TO:<address>"
    assert c.cmd("RCPT TO:<>") == "501 5.1.3 Bad recipient address syntax"
    assert c.cmd("RCPT TO:<b@example.jp> NOTIFY=SUCCESS,BOGUS") == (
        "501 5.5.4 Error: Bad NOTIFY parameter syntax")
    assert server.wait_log("NOTIFY").endswith(
        'warning: unknown DSN NOTIFY command value "BOGUS" in "SUCCESS,BOGUS"')
    assert c.cmd("RCPT TO:<b@example.jp> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40example.jp"
                 ) == "250 2.1.5 Ok"
    assert c.cmd("DATA x") == "501 5.5.4 Syntax: DATA"
    assert c.cmd("RSET x") == "501 5.5.4 Syntax: RSET"
    assert c.cmd("RSET") == "250 2.0.0 Ok"
    assert c.cmd("NOOP whatever") == "250 2.0.0 Ok"
    assert c.cmd("QUIT") == "221 2.0.0 Bye"
    assert c.closed()


def test_dsn_and_body_parameters_given_twice_or_unknown_are_refused(smtpd):
    c = smtpd().client()
    c.cmd("EHLO client.example")
    for params, reply in (("RET=FULL RET=HDRS", "501 5.5.4 Bad RET parameter syntax"),
                          ("ENVID=x ENVID=y", "501 5.5.4 Bad ENVID parameter syntax"),
                          ("BODY=foo", "555 5.5.4 Unsupported option: BODY=foo")):
        assert c.cmd(f"MAIL FROM:<a@example.org> {params}") == reply
    assert c.cmd("MAIL FROM:<a@example.org> RET=HDRS ENVID=x BODY=8bitmime") == "250 2.1.0 Ok"
    for params, reply in (("NOTIFY=NEVER NOTIFY=SUCCESS",
                           "501 5.5.4 Error: Bad NOTIFY parameter syntax"),
                          ("ORCPT=rfc822;a@b ORCPT=rfc822;c@d",
                           "501 5.5.4 Error: Bad ORCPT parameter syntax")):
        assert c.cmd(f"RCPT TO:<b@example.jp> {params}") == reply
    assert c.cmd("RCPT TO:<b@example.jp> NOTIFY=NEVER ORCPT=rfc822;a@b") == "250 2.1.5 Ok"
    # an encoded line break would let the client write its own lines into a DSN
    assert c.cmd("RCPT TO:<c@example.jp> ORCPT=rfc822;x@y+0AStatus:+202.0.0") == (
        "501 5.5.4 Error: Bad ORCPT parameter syntax")
    c.cmd("RSET")
    assert c.cmd("MAIL FROM:<a@example.org> ENVID=abc+0AAction:+20delivered") == (
        "501 5.5.4 Bad ENVID parameter syntax")


def test_control_characters_from_the_client_reach_the_log_as_question_marks(smtpd):
    """An escape sequence in an address must not reach the terminal of whoever reads the log,
    and a bare CR must not split one event into two lines (fail2ban, pflogsumm read lines)."""
    server = smtpd()
    c = server.client()
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<a\x1b[31mb@example.org>>").startswith("501 5.1.7")
    assert server.wait_log("in MAIL command").endswith("in MAIL command: <a?[31mb@example.org>>")
    assert c.cmd("MAIL FROM:<a@example.org> NOTIFY=\x1b[2J").startswith("5")
    c.cmd("QUIT")
    server.wait_log("disconnect from")
    assert "\x1b" not in server.log and "\r" not in server.log
    assert all(line.startswith(server.log[:3]) or not line
               for line in server.log.split("\n")), server.log


def test_a_tab_or_a_bare_cr_separates_words_as_a_space_does(smtpd):
    """As Postfix's smtpd splits a command: any ASCII white space ends a word."""
    c = smtpd().client()
    assert c.cmd("EHLO\tclient.example").startswith("250-mx.example.jp\n")
    assert c.cmd("NOOP\tx") == "250 2.0.0 Ok"
    assert c.cmd("NOOP\rRSET") == "250 2.0.0 Ok"
    assert c.cmd("MAIL\tFROM:<a@example.org>\tSIZE=10") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<b@example.jp>\x0bNOTIFY=NEVER") == "250 2.1.5 Ok"
    c.cmd("RSET")
    assert c.cmd("MAIL FROM:<a@example.org>\rRCPT TO:<b@example.jp>") == (
        "555 5.5.4 Unsupported option: RCPT")


def test_a_verb_is_ascii_whatever_unicode_case_folding_says(smtpd):
    c = smtpd().client()
    c.cmd("EHLO client.example")
    assert c.cmd("noop") == "250 2.0.0 Ok"
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    assert c.cmd("rcpt TO:<b@example.jp>") == "250 2.1.5 Ok"
    c.send("RſET\r\n".encode())  # LATIN SMALL LETTER LONG S upper-cases to S
    assert c.reply() == "500 5.5.2 Error: command not recognized"


def test_null_sender_accepted(smtpd):
    c = smtpd().client()
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<>") == "250 2.1.0 Ok"


def test_illegal_sender_syntax_is_logged(smtpd):
    server = smtpd()
    c = server.client()
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<a@b>>") == "501 5.1.7 Bad sender address syntax"
    line = server.wait_log("Illegal address")
    assert line.endswith("warning: Illegal address syntax from unknown[127.0.0.1] in MAIL "
                         "command: <a@b>>")  # the address, as Postfix names it
    assert c.cmd("MAIL FROM:<a b@example.org> SIZE=10").startswith("501 5.1.7")
    assert server.wait_log("<a b@example.org>").endswith("in MAIL command: <a b@example.org>")
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("RCPT TO:<>").startswith("501 ")
    assert server.wait_log("in RCPT command").endswith(
        "Illegal address syntax from unknown[127.0.0.1] in RCPT command: <>")


def test_strict_rfc821_envelopes_requires_brackets(smtpd):
    c = smtpd("strict_rfc821_envelopes = yes\n").client()
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:a@example.org") == "501 5.1.7 Bad sender address syntax"
    assert c.cmd("MAIL FROM: <a@example.org>") == "501 5.1.7 Bad sender address syntax"
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"


def test_mail_size_over_limit_is_rejected_and_logged(smtpd):
    server = smtpd("message_size_limit = 1000\n")
    c = server.client()
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<a@example.org> SIZE=1001") == (
        "552 5.3.4 Message size exceeds fixed limit")
    assert c.cmd("MAIL FROM:<a@example.org> SIZE=99999999999999999999") == (
        "552 5.3.4 Message size exceeds file system imposed limit")
    assert c.cmd("MAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME") == "250 2.1.0 Ok"
    line = server.wait_log("reject: MAIL")
    assert line.endswith("NOQUEUE: reject: MAIL from unknown[127.0.0.1]: 552 5.3.4 Message "
                         "size exceeds fixed limit; from=<a@example.org> proto=ESMTP "
                         "helo=<client.example>")


def test_helo_required(smtpd):
    server = smtpd("smtpd_helo_required = yes\n")
    c = server.client()
    assert c.cmd("MAIL FROM:<a@example.org>") == "503 5.5.1 Error: send HELO/EHLO first"
    assert c.cmd("ETRN example.jp") == "503 Error: send HELO/EHLO first"
    c.cmd("QUIT")
    assert "mail=0/1" in server.wait_log("disconnect from")
    assert "reject" not in server.log


def test_mail_without_helo_is_accepted_by_default(smtpd):
    c = smtpd().client()
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"


def test_vrfy_replies(smtpd):
    c = smtpd().client()
    assert c.cmd("VRFY") == "501 5.5.4 Syntax: VRFY address [SMTPUTF8]"
    assert c.cmd("VRFY <kororo@kororo.jp>") == "252 2.0.0 <kororo@kororo.jp>"
    assert c.cmd("VRFY <kororo@kororo.jp> SMTPUTF8") == "252 2.0.0 <kororo@kororo.jp>"
    assert c.cmd("VRFY <>") == "501 5.1.3 Bad recipient address syntax"
    c2 = smtpd("smtputf8_enable = no\n").client()
    assert c2.cmd("VRFY") == "501 5.5.4 Syntax: VRFY address"


def test_expn_and_unknown_commands_are_not_recognized(smtpd):
    server = smtpd()
    c = server.client()
    assert c.cmd("EXPN staff") == "500 5.5.2 Error: command not recognized"
    assert c.cmd("HELP") == "500 5.5.2 Error: command not recognized"
    assert c.cmd("FOO bar") == "500 5.5.2 Error: command not recognized"
    c.cmd("QUIT")
    assert server.wait_log("disconnect from").endswith("quit=1 unknown=0/3 commands=1/4")


def test_etrn_replies(smtpd):
    c = smtpd().client()
    c.cmd("EHLO client.example")
    assert c.cmd("ETRN") == "500 Syntax: ETRN domain"
    assert c.cmd("ETRN bad!domain") == "501 Error: invalid parameter syntax"
    assert c.cmd("ETRN bad..name") == "501 Error: invalid parameter syntax"
    assert c.cmd("ETRN [192.0.2.1]") == "458 Unable to queue messages"
    assert c.cmd("ETRN example.jp") == "458 Unable to queue messages"
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("ETRN example.jp") == "503 Error: MAIL transaction in progress"


def test_etrn_uses_the_flush_hook_when_there_is_one(smtpd):
    async def flush(domain: str) -> bool:
        return domain == "example.jp"

    server = smtpd(etrn=flush)
    c = server.client()
    c.cmd("EHLO client.example")
    assert c.cmd("ETRN example.jp") == "250 Queuing started"
    assert c.cmd("ETRN other.example") == "459 <other.example>: service unavailable"
    # Postfix's warning for a refused ETRN (pflogsumm lists it among the warnings)
    assert server.wait_log("ETRN other").endswith(
        "warning: reject: ETRN other.example... from unknown[127.0.0.1]")


def test_auth_is_not_enabled(smtpd):
    c = smtpd().client()
    c.cmd("EHLO client.example")
    assert c.cmd("AUTH PLAIN AGZvbwBiYXI=") == "503 5.5.1 Error: authentication not enabled"


def test_starttls_without_tls(smtpd):
    c = smtpd().client()
    c.cmd("EHLO client.example")
    assert c.cmd("STARTTLS") == "502 5.5.1 Error: command not implemented"


def test_bad_syntax_nul_and_utf8(smtpd):
    c = smtpd().client()
    assert c.cmd("") == "500 5.5.2 Error: bad syntax"
    assert c.cmd("NOOP \0") == "500 5.5.2 Error: bad syntax"
    c.send(b"NOOP \xff\xfe\r\n")
    assert c.reply() == "500 5.5.2 Error: bad UTF-8 syntax"
    c.send("VRFY ユーザー\r\n".encode())
    assert c.reply() == "252 2.0.0 ユーザー"


def test_unicode_address_needs_smtputf8_only_with_strict_smtputf8(smtpd):
    """Postfix 3.7's default (strict_smtputf8 = no) takes a UTF-8 address without the
    SMTPUTF8 parameter; strict_smtputf8 = yes refuses it."""
    c = smtpd().client()
    c.cmd("EHLO client.example")
    c.send("MAIL FROM:<ユーザー@example.jp>\r\n".encode())
    assert c.reply() == "250 2.1.0 Ok"
    c.send("RCPT TO:<ユーザー@example.jp>\r\n".encode())
    assert c.reply() == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354 ")
    assert c.cmd("Subject: x\r\n\r\nbody\r\n.").startswith("250 2.0.0 Ok: queued as ")
    strict = smtpd("strict_smtputf8 = yes\n").client()
    strict.cmd("EHLO client.example")
    strict.send("MAIL FROM:<ユーザー@example.jp>\r\n".encode())
    assert strict.reply() == "553 5.6.7 Must declare SMTPUTF8 to send unicode address"
    strict.send("MAIL FROM:<ユーザー@example.jp> SMTPUTF8\r\n".encode())
    assert strict.reply() == "250 2.1.0 Ok"
    strict.send("RCPT TO:<ユーザー@example.jp>\r\n".encode())
    assert strict.reply() == "250 2.1.5 Ok"


def test_non_smtp_commands_hang_up(smtpd):
    for line in ("GET / HTTP/1.0", "CONNECT example.org:25", "Subject: hello", "<html>",
                 "Subject:\thello"):
        server = smtpd()
        c = server.client()
        assert c.cmd(line) == "221 2.7.0 Error: I can break rules, too. Goodbye."
        assert c.closed()
        warning = server.wait_log("non-SMTP command")
        shown = line.replace("\t", "\\t")  # as Postfix escapes it
        assert warning.endswith(f"warning: non-SMTP command from unknown[127.0.0.1]: {shown}")


def test_a_command_starting_with_a_non_ascii_letter_is_non_smtp_and_logged_shortened(smtpd):
    server = smtpd("smtputf8_enable = yes\n")
    c = server.client()
    line = "\u00c9T " + "x" * 200
    c.send(line.encode() + b"\r\n")
    assert c.reply() == "221 2.7.0 Error: I can break rules, too. Goodbye."
    assert server.wait_log("non-SMTP command").endswith(
        "warning: non-SMTP command from unknown[127.0.0.1]: \\303\\211T " + "x" * 96)  # 100 bytes


def test_after_an_unknown_command_the_log_names_the_stage_unknown(smtpd):
    server = smtpd("smtpd_hard_error_limit = 3\n")
    c = server.client()
    c.cmd("EHLO client.example")
    assert c.cmd("FOO").startswith("500 5.5.2 ")
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    assert c.cmd("BAR").startswith("500 5.5.2 ")
    assert c.cmd("BAZ").startswith("500 5.5.2 ")
    assert c.reply() == "421 4.7.0 mx.example.jp Error: too many errors"
    assert server.wait_log("too many errors").endswith(
        "too many errors after UNKNOWN from unknown[127.0.0.1]")
    other = smtpd()
    c = other.client()
    c.cmd("EHLO client.example")
    c.cmd("FOO")
    c.close()
    assert other.wait_log("lost connection").endswith(
        "lost connection after UNKNOWN from unknown[127.0.0.1]")


def test_recipient_limit_and_overshoot(smtpd):
    server = smtpd("smtpd_recipient_limit = 2\nsmtpd_recipient_overshoot_limit = 1\n"
                   "smtpd_hard_error_limit = 2\n")
    c = server.client()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("RCPT TO:<b1@example.jp>") == "250 2.1.5 Ok"
    assert c.cmd("RCPT TO:<b2@example.jp>") == "250 2.1.5 Ok"
    assert c.cmd("RCPT TO:<b3@example.jp>") == "452 4.5.3 Error: too many recipients"
    assert c.cmd("RCPT TO:<b4@example.jp>") == "452 4.5.3 Error: too many recipients"
    # the first overshoot was free: one error so far, the hard limit (2) is not reached
    assert c.cmd("RCPT TO:<b5@example.jp>") == "452 4.5.3 Error: too many recipients"
    assert c.reply() == "421 4.7.0 mx.example.jp Error: too many errors"
    # the free overshoot counts as done, as in Postfix's statistics
    assert server.wait_log("disconnect from").endswith("ehlo=1 mail=1 rcpt=3/5 commands=5/7")


def test_smtplib_sends_a_message(smtpd):
    server = smtpd()
    with smtplib.SMTP("127.0.0.1", server.port) as s:
        refused = s.sendmail("a@example.org", ["b@example.jp"], b"Subject: t\r\n\r\nhello\r\n")
    assert refused == {}
    assert server.cleanup.queued(server.queue_id())
    envelope, content = server.cleanup.messages[0]
    assert envelope.sender == "a@example.org"
    assert [r.address for r in envelope.recipients] == ["b@example.jp"]
    assert envelope.protocol == "ESMTP" and envelope.helo
    assert content.endswith(b"Subject: t\n\nhello\n")


def test_per_client_discard_map_replaces_the_global_list(smtpd, tmp_path):
    table = tmp_path / "discard"
    table.write_text("127.0.0.1 silent-discard, chunking\n")
    server = smtpd(f"smtpd_discard_ehlo_keywords = dsn\n"
                   f"smtpd_discard_ehlo_keyword_address_maps = texthash:{table}\n",
                   tables="auto")
    reply = server.client().cmd("EHLO client.example")
    assert "CHUNKING" not in reply and "250-DSN" in reply


def test_a_session_context_without_a_queue_cannot_be_made(tmp_path):
    """Nothing accepted is ever dropped: smtpd has no stand-in for the queue."""
    from affix.config.snapshot import load_config
    from affix.smtpd.server import SessionContext

    with pytest.raises(TypeError, match="cleanup"):
        SessionContext(load_config(None))  # type: ignore[call-arg]


def test_a_helo_of_several_words_is_one_name_joined_by_question_marks(smtpd):
    """Postfix's replies and log show `EHLO bad helo` as bad?helo: no space inside a name."""
    server = smtpd()
    c = server.client()
    assert c.cmd("EHLO bad  helo").startswith("250-mx.example.jp")
    c.to_data()
    qid = server.assert_queued(c.cmd("Subject: x\r\n\r\nbody\r\n."))
    content = server.cleanup.store.read("incoming", qid).content
    assert b"Received: from bad?helo (unknown [127.0.0.1])" in content
