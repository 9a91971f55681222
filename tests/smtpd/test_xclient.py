"""XCLIENT (Postfix XCLIENT_README) for authorized clients."""

from __future__ import annotations

from smtpd_helpers import ScriptedPolicy

from affix.policy.request import NameStatus, Stage, Verdict


def test_xclient_is_refused_for_unauthorized_clients(smtpd):
    c = smtpd().client()
    assert "XCLIENT" not in c.cmd("EHLO client.example")
    assert c.cmd("XCLIENT ADDR=192.0.2.7") == "550 5.7.0 Error: insufficient authorization"


def test_xclient_replaces_the_client_and_greets_again(smtpd):
    seen = []

    class Recorder:
        async def check(self, stage, state):
            seen.append((state.client, state.name_status, state.helo, state.protocol))
            return Verdict()

    server = smtpd("smtpd_authorized_xclient_hosts = 127.0.0.0/8\n", policy=Recorder())
    c = server.client()
    assert "250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN" in c.cmd("EHLO x")
    assert c.cmd("XCLIENT NAME=mail.example.org ADDR=192.0.2.7 PORT=4321") == (
        "220 mx.example.jp ESMTP affix")
    c.cmd("EHLO helo.example.org")
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("RCPT TO:<b@example.jp>") == "250 2.1.5 Ok"
    assert seen == [("mail.example.org[192.0.2.7]", NameStatus.OK, "helo.example.org", "ESMTP")]
    assert server.wait_log("client=").endswith(
        f"{server.queue_id()}: client=mail.example.org[192.0.2.7]")


def test_xclient_special_values_and_ipv6(smtpd):
    seen = []

    class Recorder:
        async def check(self, stage, state):
            seen.append((state.client_name, state.name_status, state.client_addr, state.helo))
            return Verdict()

    c = smtpd("smtpd_authorized_xclient_hosts = 127.0.0.1\n", policy=Recorder()).client()
    assert c.cmd("XCLIENT NAME=[TEMPUNAVAIL] ADDR=IPV6:2001:db8::1 HELO=pc5+2Elan").startswith(
        "220 ")
    c.cmd("MAIL FROM:<a@example.org>")
    c.cmd("RCPT TO:<b@example.jp>")
    assert seen == [("unknown", NameStatus.TEMP, "2001:db8::1", "pc5.lan")]


def test_xclient_syntax_errors(smtpd):
    c = smtpd("smtpd_authorized_xclient_hosts = 127.0.0.1\n").client()
    assert c.cmd("XCLIENT") == "501 5.5.4 Syntax: XCLIENT attribute=value..."
    assert c.cmd("XCLIENT FOO=bar") == "501 5.5.4 Bad XCLIENT attribute name: FOO"
    assert c.cmd("XCLIENT NAME") == "501 5.5.4 Error: attribute=value expected"
    assert c.cmd("XCLIENT ADDR=999.1.1.1").startswith("501 5.5.4 Bad ADDR syntax")
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("XCLIENT ADDR=192.0.2.1") == "503 5.5.1 Error: MAIL transaction in progress"


def test_xclient_reruns_connect_checks_with_delay_reject_no(smtpd):
    from affix.reply import Reply

    deny = Reply(554, "5.7.1", "<unknown[192.0.2.66]>: Client host rejected: Access denied")

    class DenyOne:
        async def check(self, stage, state):
            if stage is Stage.CONNECT and state.client_addr == "192.0.2.66":
                return Verdict(reply=deny)
            return Verdict()

    c = smtpd("smtpd_authorized_xclient_hosts = 127.0.0.1\nsmtpd_delay_reject = no\n",
              policy=DenyOne()).client()
    assert c.cmd("XCLIENT ADDR=192.0.2.66") == str(deny)
    assert c.cmd("EHLO x") == "503 5.7.0 Error: access denied for unknown[192.0.2.66]"


def test_scripted_policy_sees_connect_with_xclient(smtpd):
    policy = ScriptedPolicy()
    c = smtpd("smtpd_authorized_xclient_hosts = 127.0.0.1\nsmtpd_delay_reject = no\n",
              policy=policy).client()
    c.cmd("XCLIENT ADDR=192.0.2.9")
    assert policy.stages == [Stage.CONNECT, Stage.CONNECT]


def test_xclient_port_in_other_digits_is_a_bad_value(smtpd):
    server = smtpd("smtpd_authorized_xclient_hosts = 127.0.0.0/8\n")
    c = server.client()
    c.cmd("EHLO x")
    assert c.cmd("XCLIENT PORT=+B2").startswith("501 5.5.4 ")  # xtext for '²'
    assert "internal error" not in server.log


def test_xclient_for_an_unauthorized_client_ends_the_privilege(smtpd):
    """As Postfix: a transaction in progress is refused first (503); once XCLIENT names a
    client outside smtpd_authorized_xclient_hosts, XCLIENT is no longer offered or taken.
    DESTADDR and DESTPORT set the server side the policy sees."""
    seen = []

    class Recorder:
        async def check(self, stage, state):
            seen.append((state.server_addr, state.server_port))
            return Verdict()

    server = smtpd("smtpd_authorized_xclient_hosts = 127.0.0.0/8\n", policy=Recorder())
    c = server.client()
    assert "XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT" in \
        c.cmd("EHLO x")
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("XCLIENT ADDR=192.0.2.7") == "503 5.5.1 Error: MAIL transaction in progress"
    c.cmd("RSET")
    assert c.cmd("XCLIENT ADDR=192.0.2.7 DESTADDR=192.0.2.25 DESTPORT=587").startswith("220 ")
    assert "XCLIENT" not in c.cmd("EHLO x")
    c.cmd("MAIL FROM:<a@example.org>")
    c.cmd("RCPT TO:<b@example.jp>")
    assert ("192.0.2.25", 587) in seen
    c.cmd("RSET")
    assert c.cmd("XCLIENT ADDR=127.0.0.1") == "550 5.7.0 Error: insufficient authorization"
