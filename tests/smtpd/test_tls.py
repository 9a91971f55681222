"""STARTTLS (RFC 3207) with certificates made by trustme."""

from __future__ import annotations

import re
import smtplib
import ssl

import pytest
import trustme
from smtpd_helpers import ScriptedPolicy

from affix.policy.request import Stage


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def tls_conf(ca, tmp_path):
    cert = ca.issue_cert("mx.example.jp", "127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    return f"smtpd_tls_cert_file = {cert_file}\nsmtpd_tls_key_file = {key_file}\n"


def _client_context(ca) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def test_starttls_then_mail_is_received_with_esmtps(smtpd, ca, tls_conf):
    server = smtpd("smtpd_tls_security_level = may\n" + tls_conf)
    with smtplib.SMTP("127.0.0.1", server.port) as s:
        s.ehlo("client.example")
        assert s.has_extn("starttls")
        assert s.starttls(context=_client_context(ca))[0] == 220
        s.ehlo("client.example")
        assert not s.has_extn("starttls")
        assert s.docmd("STARTTLS") == (554, b"5.5.1 Error: TLS already active")
        s.sendmail("a@example.org", ["b@example.jp"], b"Subject: tls\r\n\r\nx\r\n")
    content = server.cleanup.messages[0][1].decode()
    assert f"with ESMTPS id {server.queue_id()}" in content
    assert server.cleanup.queued(server.queue_id())
    assert server.cleanup.messages[0][0].protocol == "ESMTPS"
    assert "starttls=1" in server.wait_log("disconnect from")


def test_tls_details_reach_the_received_header_and_the_policy_facts(smtpd, ca, tls_conf):
    policy = ScriptedPolicy()
    server = smtpd("smtpd_tls_security_level = may\nsmtpd_tls_received_header = yes\n"
                   + tls_conf, policy=policy)
    with smtplib.SMTP("127.0.0.1", server.port) as s:
        s.ehlo("client.example")
        s.starttls(context=_client_context(ca))
        s.ehlo("client.example")
        for n in (1, 2):
            s.sendmail("a@example.org", ["b@example.jp"], f"Subject: {n}\r\n\r\nx\r\n")
    content = server.cleanup.messages[0][1].decode()
    first = content.split("\n\tby ", 1)[0]
    assert re.fullmatch(r"Received: from client\.example \(\S+ \[127\.0\.0\.1\]\)\n"
                        r"\t\(using TLSv1\.[23] with cipher \S+ \((\d+)/\1 bits\)\)\n"
                        r"\t\(No client certificate requested\)", first), first
    rcpts = [st for stage, st in zip(policy.stages, policy.states, strict=True)
             if stage is Stage.RCPT]
    assert [st.transactions for st in rcpts] == [1, 2]  # a new policy instance per message
    assert {(st.server_addr, st.server_port) for st in rcpts} == {("127.0.0.1", server.port)}
    assert all(st.tls_protocol.startswith("TLSv1.") and st.tls_bits >= 128 for st in rcpts)


def test_old_smtpd_use_tls_offers_starttls(smtpd, tls_conf):
    c = smtpd("smtpd_use_tls = yes\n" + tls_conf).client()
    assert "250-STARTTLS" in c.cmd("EHLO client.example")


def test_encrypt_requires_starttls_first(smtpd, ca, tls_conf):
    server = smtpd("smtpd_enforce_tls = yes\n" + tls_conf)
    c = server.client()
    assert "250-STARTTLS" in c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<a@example.org>") == "530 5.7.0 Must issue a STARTTLS command first"
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    with smtplib.SMTP("127.0.0.1", server.port) as s:
        s.starttls(context=_client_context(ca))
        s.ehlo("client.example")
        assert s.mail("a@example.org")[0] == 250


def test_plaintext_pipelined_after_starttls_is_discarded(smtpd, ca, tls_conf):
    """CVE-2011-0411: commands injected in plaintext after STARTTLS must not run under TLS."""
    server = smtpd("smtpd_tls_security_level = may\n" + tls_conf)
    c = server.client()
    c.cmd("EHLO client.example")
    c.send(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
    assert c.reply() == "220 2.0.0 Ready to start TLS"
    tls = _client_context(ca).wrap_socket(c.sock, server_hostname="mx.example.jp")
    tls.sendall(b"MAIL FROM:<a@example.org>\r\n")
    assert tls.recv(4096) == b"250 2.1.0 Ok\r\n"  # not "nested MAIL command"
    tls.sendall(b"QUIT\r\n")
    assert tls.recv(4096) == b"221 2.0.0 Bye\r\n"


def test_tls_level_may_without_certificate_is_not_offered(smtpd):
    server = smtpd("smtpd_tls_security_level = may\n")
    c = server.client()
    assert "STARTTLS" not in c.cmd("EHLO client.example")
    assert c.cmd("STARTTLS") == "454 4.7.0 TLS not available due to local problem"
    assert "TLS is not available" in server.wait_log("warning: TLS")


def test_starttls_discarded_keyword_disables_it(smtpd, tls_conf):
    c = smtpd("smtpd_tls_security_level = may\nsmtpd_discard_ehlo_keywords = starttls\n"
              + tls_conf).client()
    assert "STARTTLS" not in c.cmd("EHLO client.example")
    assert c.cmd("STARTTLS") == "502 5.5.1 Error: command not implemented"


def test_failed_handshake_ends_the_session_cleanly(smtpd, tls_conf):
    server = smtpd("smtpd_tls_security_level = may\n" + tls_conf)
    c = server.client()
    c.cmd("EHLO client.example")
    assert c.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
    c.send(b"EHLO not-tls\r\n" * 20)
    assert c.closed()
    assert server.wait_log("disconnect from").endswith("ehlo=1 starttls=1 commands=2")
    assert "lost connection after STARTTLS from unknown[127.0.0.1]" in server.log


def test_a_failed_handshake_is_one_warning_and_no_traceback(smtpd, tls_conf, caplog):
    """Plaintext after `220 Ready to start TLS`, then gone: the log says the handshake failed
    (even though the client already left), and asyncio has no unretrieved task error."""
    import gc
    import logging

    server = smtpd("smtpd_tls_security_level = may\n" + tls_conf)
    c = server.client()
    c.cmd("EHLO client.example")
    assert c.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
    c.send(b"MAIL FROM:<a@example.org>\r\n")
    c.close()
    assert "TLS handshake failed for unknown[127.0.0.1]" in server.wait_log("TLS handshake")
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()  # an unretrieved task exception is reported when the task is freed
    assert "never retrieved" not in caplog.text
