"""smtpd with the real restriction engine, tables and resolver (DNS fixture on loopback)."""

from __future__ import annotations

from affix.config.snapshot import load_config
from affix.dns.resolver import Resolver
from affix.policy.engine import RestrictionEngine
from affix.tables import TableCache


def _engine_server(smtpd, tmp_path, dns_server, extra: str):
    maincf = (f"{dns_server.main_cf_line()}\nmydestination = example.jp\nmynetworks =\n"
              "smtpd_helo_restrictions = reject_unknown_helo_hostname\n" + extra)
    (tmp_path / "main.cf").write_text("myhostname = mx.example.jp\ncompatibility_level = 3.7\n"
                                      + maincf)
    cfg = load_config(str(tmp_path))
    tables = TableCache(cfg)
    resolver = Resolver.from_config(cfg)
    engine = RestrictionEngine(cfg, tables, resolver)
    return smtpd(maincf, policy=engine, resolver=resolver, tables=tables)


def _mail_session(smtpd, tmp_path, dns_server, extra: str, sender: str = "a@example.org"):
    """A server with the engine and `extra`, and a client that has said EHLO (a name the
    DNS knows) and MAIL FROM:<sender>."""
    dns_server.add("mail.example.org", "A", "192.0.2.1")
    server = _engine_server(smtpd, tmp_path, dns_server, extra)
    c = server.client()
    c.cmd("EHLO mail.example.org")
    assert c.cmd(f"MAIL FROM:<{sender}>") == "250 2.1.0 Ok"
    return server, c


def test_unknown_helo_is_rejected_at_rcpt_and_logged(smtpd, tmp_path, dns_server):
    server = _engine_server(smtpd, tmp_path, dns_server, "")
    c = server.client()
    c.cmd("EHLO nx.example")
    assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<b@example.jp>") == (
        "450 4.7.1 <nx.example>: Helo command rejected: Host not found")
    assert server.wait_log("reject: RCPT").endswith(
        "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 450 4.7.1 <nx.example>: Helo command "
        "rejected: Host not found; from=<a@example.org> to=<b@example.jp> proto=ESMTP "
        "helo=<nx.example>")


def test_postmaster_passes_and_known_helo_is_accepted(smtpd, tmp_path, dns_server):
    dns_server.add("mail.example.org", "A", "192.0.2.1")
    server = _engine_server(smtpd, tmp_path, dns_server, "")
    c = server.client()
    c.cmd("EHLO nx.example")
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("RCPT TO:<postmaster>") == "250 2.1.5 Ok"
    c.cmd("RSET")
    c.cmd("EHLO mail.example.org")
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("RCPT TO:<x@other.example>") == (
        "454 4.7.1 <x@other.example>: Relay access denied")


def test_access_prepend_headers_are_queued_once_each_above_received(smtpd, tmp_path,
                                                                   dns_server):
    """One header per PREPEND the engine returned (the sender's list runs at each RCPT with
    smtpd_delay_reject), in the order found, above Received, in the queue file itself."""
    dns_server.add("mail.example.org", "A", "192.0.2.1")
    senders, rcpts = tmp_path / "senders", tmp_path / "rcpts"
    senders.write_text("a@example.org PREPEND X-Sender-Seen: yes\n")
    rcpts.write_text("b@example.jp PREPEND X-Rcpt-Seen: b\n")
    server = _engine_server(smtpd, tmp_path, dns_server, (
        "local_recipient_maps =\n"
        f"smtpd_sender_restrictions = check_sender_access texthash:{senders}\n"
        f"smtpd_recipient_restrictions = check_recipient_access texthash:{rcpts}\n"))
    c = server.client()
    c.cmd("EHLO mail.example.org")
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("RCPT TO:<b@example.jp>") == "250 2.1.5 Ok"
    assert c.cmd("RCPT TO:<c@example.jp>") == "250 2.1.5 Ok"
    c.cmd("DATA")
    qid = server.assert_queued(c.cmd("Subject: x\r\n\r\nhello\r\n."))
    content = server.cleanup.store.read("incoming", qid).content
    assert content.startswith(b"X-Sender-Seen: yes\nX-Rcpt-Seen: b\nX-Sender-Seen: yes\n"
                              b"Received: from mail.example.org")
    assert content.count(b"X-Sender-Seen") == 2 and content.count(b"X-Rcpt-Seen") == 1


def test_a_recipient_discard_takes_unknown_users_and_drops_the_whole_message(
        smtpd, tmp_path, dns_server):
    """DISCARD accepts the recipient (the unlisted-recipient check is skipped, for it and the
    transaction's later recipients) and the message is queued for nobody, valid ones too."""
    dns_server.add("mail.example.org", "A", "192.0.2.1")
    rcpts = tmp_path / "rcpts"
    rcpts.write_text("trap@example.jp DISCARD\n")
    server = _engine_server(smtpd, tmp_path, dns_server, (
        "local_recipient_maps = inline:{known@example.jp=x}\n"
        f"smtpd_recipient_restrictions = check_recipient_access texthash:{rcpts}\n"))
    c = server.client()
    c.cmd("EHLO mail.example.org")
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("RCPT TO:<stranger@example.jp>").startswith("550 5.1.1 <stranger@example.jp>")
    assert c.cmd("RCPT TO:<trap@example.jp>") == "250 2.1.5 Ok"
    assert "discard: RCPT from" in server.wait_log("triggers DISCARD action")
    assert c.cmd("RCPT TO:<other@example.jp>") == "250 2.1.5 Ok"
    assert c.cmd("RCPT TO:<known@example.jp>") == "250 2.1.5 Ok"
    c.cmd("DATA")
    assert c.cmd("Subject: x\r\n\r\nhello\r\n.").startswith("250 2.0.0 Ok: queued as ")
    assert list(server.cleanup.store.iterate("incoming")) == []
    c.cmd("MAIL FROM:<a@example.org>")  # the next transaction is not discarded
    assert c.cmd("RCPT TO:<other@example.jp>").startswith("550 5.1.1 <other@example.jp>")


def test_after_a_discard_nothing_more_is_checked_in_the_transaction(smtpd, tmp_path,
                                                                     dns_server):
    """Postfix stops checking once DISCARD is decided: a later recipient that the relay check
    would refuse is taken, the end-of-data list does not run, and the discard is logged once."""
    server, c = _mail_session(smtpd, tmp_path, dns_server, (
        "local_recipient_maps =\n"
        "smtpd_sender_restrictions = check_sender_access inline:{spam@example.org=DISCARD}\n"
        "smtpd_end_of_data_restrictions = reject\n"), sender="spam@example.org")
    assert c.cmd("RCPT TO:<b@example.jp>") == "250 2.1.5 Ok"
    assert c.cmd("RCPT TO:<x@other.example>") == "250 2.1.5 Ok"
    c.cmd("DATA")
    assert c.cmd("Subject: x\r\n\r\nhello\r\n.").startswith("250 2.0.0 Ok: queued as ")
    assert list(server.cleanup.store.iterate("incoming")) == []
    c.cmd("QUIT")
    server.wait_log("disconnect from")
    assert server.log.count("discard: RCPT from") == 1 and "reject:" not in server.log
    c = server.client()  # a new transaction is checked again
    c.cmd("EHLO mail.example.org")
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("RCPT TO:<x@other.example>") == (
        "454 4.7.1 <x@other.example>: Relay access denied")


def test_a_hold_is_kept_when_its_recipient_is_rejected_and_logged_once(smtpd, tmp_path,
                                                                       dns_server):
    server, c = _mail_session(smtpd, tmp_path, dns_server, (
        "local_recipient_maps = inline:{known@example.jp=x, a1@example.jp=x, a2@example.jp=x}\n"
        "smtpd_recipient_restrictions = check_recipient_access inline:{"
        "{held@example.jp=HOLD first}, {a1@example.jp=HOLD one}, {a2@example.jp=HOLD two}}\n"))
    assert c.cmd("RCPT TO:<held@example.jp>").startswith("550 5.1.1 <held@example.jp>")
    assert c.cmd("RCPT TO:<known@example.jp>") == "250 2.1.5 Ok"
    c.cmd("DATA")
    qid = server.assert_queued(c.cmd("Subject: x\r\n\r\nhello\r\n."))
    assert server.cleanup.store.find(qid, ("hold",))  # the rejected recipient's HOLD
    c.cmd("MAIL FROM:<a@example.org>")
    assert c.cmd("RCPT TO:<a1@example.jp>") == "250 2.1.5 Ok"
    assert c.cmd("RCPT TO:<a2@example.jp>") == "250 2.1.5 Ok"
    c.cmd("QUIT")
    server.wait_log("disconnect from")
    assert "Recipient address one" in server.log and "Recipient address two" not in server.log


def test_warn_if_reject_unlisted_recipient_leaves_the_implicit_check(smtpd, tmp_path,
                                                                     dns_server):
    """A run under warn_if_reject only warns: the implicit reject_unlisted_recipient still
    rejects the unknown user, as Postfix does."""
    server, c = _mail_session(smtpd, tmp_path, dns_server, (
        "local_recipient_maps = inline:{known@example.jp=x}\n"
        "smtpd_recipient_restrictions = warn_if_reject reject_unlisted_recipient\n"))
    assert c.cmd("RCPT TO:<nouser@example.jp>") == (
        "550 5.1.1 <nouser@example.jp>: Recipient address rejected: User unknown in local "
        "recipient table")
    server.wait_log("NOQUEUE: reject: RCPT")
    assert "NOQUEUE: reject_warning: RCPT" in server.log
