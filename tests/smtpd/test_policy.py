"""Where the restriction engine is asked (smtpd_delay_reject, restrictions.md §1) and what
smtpd does with its verdicts."""

from __future__ import annotations

from smtpd_helpers import ScriptedPolicy

from affix.policy.request import Stage, Verdict
from affix.reply import Reply

CLIENT_REJECT = Reply(554, "5.7.1", "<unknown[127.0.0.1]>: Client host rejected: Access denied")
RCPT_REJECT = Reply(550, "5.1.1", "<nobody@example.jp>: Recipient address rejected: "
                                  "User unknown in local recipient table")


def _send(c, rcpt="b@example.jp"):
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@example.org>")
    rcpt_reply = c.cmd(f"RCPT TO:<{rcpt}>")
    data_reply = c.cmd("DATA")
    if data_reply.startswith("354"):
        c.send(b"Subject: p\r\n\r\nx\r\n.\r\n")
        return rcpt_reply, data_reply, c.reply()
    return rcpt_reply, data_reply, None


def test_delay_reject_yes_asks_at_rcpt_data_and_end_of_data_only(smtpd):
    policy = ScriptedPolicy()
    c = smtpd(policy=policy).client()
    _send(c)
    c.cmd("VRFY someone")
    c.cmd("ETRN example.jp")
    assert policy.stages == [Stage.RCPT, Stage.DATA, Stage.END_OF_DATA, Stage.VRFY, Stage.ETRN]
    assert policy.calls[0] == (Stage.RCPT, "b@example.jp")


def test_delay_reject_no_asks_at_connect_helo_and_mail_too(smtpd):
    policy = ScriptedPolicy()
    c = smtpd("smtpd_delay_reject = no\n", policy=policy).client()
    _send(c)
    assert policy.stages == [Stage.CONNECT, Stage.EHLO, Stage.MAIL, Stage.RCPT, Stage.DATA,
                             Stage.END_OF_DATA]


def test_connect_reject_replaces_the_greeting_then_access_denied(smtpd):
    server = smtpd("smtpd_delay_reject = no\n",
                   policy=ScriptedPolicy({Stage.CONNECT: CLIENT_REJECT}))
    c = server.client(greet=False)
    assert c.reply() == str(CLIENT_REJECT)
    assert c.cmd("EHLO x") == "503 5.7.0 Error: access denied for unknown[127.0.0.1]"
    assert c.cmd("MAIL FROM:<a@example.org>") == (
        "503 5.7.0 Error: access denied for unknown[127.0.0.1]")
    assert c.cmd("QUIT") == "221 2.0.0 Bye"
    assert server.wait_log("disconnect").endswith("ehlo=0/1 mail=0/1 quit=1 commands=1/3")


def test_connect_421_hangs_up(smtpd):
    bye = Reply(421, "4.7.0", "mx.example.jp Error: go away")
    c = smtpd("smtpd_delay_reject = no\n",
              policy=ScriptedPolicy({Stage.CONNECT: bye})).client(greet=False)
    assert c.reply() == str(bye)
    assert c.closed()


def test_helo_reject_keeps_no_helo_name(smtpd):
    seen = []

    class HeloThenRecord:
        async def check(self, stage, state):
            if stage is Stage.EHLO:
                return Verdict(reply=Reply(504, "5.5.2", "<pc5>: Helo command rejected: "
                                                         "need fully-qualified hostname"))
            seen.append(state.helo)
            return Verdict()

    c = smtpd("smtpd_delay_reject = no\n", policy=HeloThenRecord()).client()
    assert c.cmd("EHLO pc5").startswith("504 5.5.2 <pc5>")
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    assert seen[-1] is None


def test_rcpt_reject_reply_is_sent_and_no_queue_file_is_opened(smtpd):
    server = smtpd(policy=ScriptedPolicy({Stage.RCPT: RCPT_REJECT}))
    c = server.client()
    rcpt, data, _ = _send(c, "nobody@example.jp")
    assert rcpt == str(RCPT_REJECT)
    assert data == "554 5.5.1 Error: no valid recipients"
    c.cmd("QUIT")
    assert "client=" not in server.log
    assert server.wait_log("disconnect").endswith(
        "ehlo=1 mail=1 rcpt=0/1 data=0/1 quit=1 commands=3/5")


def test_vrfy_rejected_like_rcpt(smtpd):
    c = smtpd(policy=ScriptedPolicy({Stage.VRFY: RCPT_REJECT})).client()
    assert c.cmd("VRFY nobody@example.jp") == str(RCPT_REJECT)


def test_end_of_data_reject_abandons_the_queue_file(smtpd):
    reject = Reply(550, "5.7.1", "Data command rejected: no thanks")
    server = smtpd(policy=ScriptedPolicy({Stage.END_OF_DATA: reject}))
    c = server.client()
    _, _, final = _send(c)
    assert final == str(reject)
    qid = server.queue_id()
    assert server.cleanup.messages == [] and server.cleanup.abandoned == [qid]
    assert not server.cleanup.present(qid)


def test_verdict_actions_reach_the_envelope_and_content(smtpd):
    verdicts = {Stage.RCPT: Verdict(hold="held by test", bcc=["archive@example.jp"],
                                    prepend=["X-Checked: yes"])}
    server = smtpd(policy=ScriptedPolicy(verdicts=verdicts))
    c = server.client()
    _, _, final = _send(c)
    qid = server.assert_queued(final)
    assert server.cleanup.store.find(qid, ("hold",))  # the HOLD action put it on hold
    envelope, content = server.cleanup.messages[0]
    assert envelope.hold == "held by test"
    assert [r.address for r in envelope.recipients] == ["b@example.jp", "archive@example.jp"]
    assert content.startswith(b"X-Checked: yes\nReceived: from client.example")
    assert b"for <b@example.jp>;" in content


def test_slow_policy_keeps_pipelined_order(smtpd):
    server = smtpd(policy=ScriptedPolicy(delay=0.05))
    c = server.client()
    c.cmd("EHLO client.example")
    c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.jp>\r\nRCPT TO:<c@example.jp>\r\n"
           b"NOOP\r\n")
    assert [c.reply() for _ in range(4)] == ["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok",
                                             "250 2.0.0 Ok"]


def test_a_refused_client_reaches_the_hard_error_limit_after_connect(smtpd):
    """With smtpd_delay_reject = no the connect-time refusal is the first error, and the
    refused commands never ran: with a hard limit of 3 the third command gets 421, and the
    log says `too many errors after CONNECT`, as Postfix's does."""
    server = smtpd("smtpd_delay_reject = no\nsmtpd_hard_error_limit = 3\n",
                   policy=ScriptedPolicy({Stage.CONNECT: CLIENT_REJECT}))
    c = server.client(greet=False)
    assert c.reply() == str(CLIENT_REJECT)
    assert c.cmd("EHLO x").startswith("503 5.7.0")
    assert c.cmd("NOOP").startswith("503 5.7.0")
    assert c.cmd("NOOP").startswith("421 4.7.0")
    assert server.wait_log("too many errors").endswith(
        "too many errors after CONNECT from unknown[127.0.0.1]")
