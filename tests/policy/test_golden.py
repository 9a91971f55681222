"""Golden policy scripts: (main.cf, tables, DNS records, session) -> (reply, log line).

Each case runs one RCPT through the engine with smtpd_delay_reject=yes, so client, helo and
sender rejects are logged at RCPT as Postfix 3.7 does (restrictions.md §8).
"""

from __future__ import annotations

import pytest

from affix.policy.request import NameStatus

ENV = "from=<a@example.org> to=<kororo@kororo.jp> proto=ESMTP helo=<mail.example.org>"
MX = [("example.org", "MX", "10 mail.example.org"), ("mail.example.org", "A", "192.0.2.7")]

CASES = [
    pytest.param(
        "smtpd_helo_restrictions = reject_unknown_helo_hostname", {}, [],
        dict(client_addr="203.0.113.30", client_name="proxy.aaa.jp", helo="alor.aaa.jp",
             sender="info@aaa.jp"),
        "450 4.7.1 <alor.aaa.jp>: Helo command rejected: Host not found",
        "NOQUEUE: reject: RCPT from proxy.aaa.jp[203.0.113.30]: 450 4.7.1 <alor.aaa.jp>: "
        "Helo command rejected: Host not found; from=<info@aaa.jp> to=<kororo@kororo.jp> "
        "proto=ESMTP helo=<alor.aaa.jp>", id="memo-helo-host-not-found"),
    pytest.param(
        "smtpd_client_restrictions = reject_unknown_client_hostname", {}, MX,
        dict(client_addr="198.51.100.9", client_name="unknown", name_status=NameStatus.FORGED),
        "450 4.7.25 Client host rejected: cannot find your hostname, [198.51.100.9]",
        "NOQUEUE: reject: RCPT from unknown[198.51.100.9]: 450 4.7.25 Client host rejected: "
        f"cannot find your hostname, [198.51.100.9]; {ENV}", id="unknown-client"),
    pytest.param(
        "smtpd_client_restrictions = check_client_access texthash:%DIR%/reject_client",
        {"reject_client": "192.168.0.100 REJECT\n192.168.10 REJECT\n"}, MX,
        dict(client_addr="192.168.10.5", client_name="unknown", helo="pc5"),
        "554 5.7.1 <unknown[192.168.10.5]>: Client host rejected: Access denied",
        "NOQUEUE: reject: RCPT from unknown[192.168.10.5]: 554 5.7.1 <unknown[192.168.10.5]>: "
        "Client host rejected: Access denied; from=<a@example.org> to=<kororo@kororo.jp> "
        "proto=ESMTP helo=<pc5>", id="partial-network"),
    pytest.param(
        "smtpd_client_restrictions = reject_rbl_client bl.spamcop.net", {},
        MX + [("7.2.0.192.bl.spamcop.net", "A", "127.0.0.2"),
              ("7.2.0.192.bl.spamcop.net", "TXT", "TXT-TEXT")], {},
        "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using bl.spamcop.net; "
        "TXT-TEXT",
        "NOQUEUE: reject: RCPT from mail.example.org[192.0.2.7]: 554 5.7.1 Service unavailable; "
        f"Client host [192.0.2.7] blocked using bl.spamcop.net; TXT-TEXT; {ENV}", id="rbl"),
    pytest.param(
        "smtpd_sender_restrictions = hash:%DIR%/reject_sender",
        {"reject_sender": "spam@spam.com REJECT\nspam.org REJECT\n"}, MX,
        dict(sender="spam@spam.com"),
        "554 5.7.1 <spam@spam.com>: Sender address rejected: Access denied",
        "NOQUEUE: reject: RCPT from mail.example.org[192.0.2.7]: 554 5.7.1 <spam@spam.com>: "
        "Sender address rejected: Access denied; from=<spam@spam.com> to=<kororo@kororo.jp> "
        "proto=ESMTP helo=<mail.example.org>", id="bare-hash-sender-table"),
    pytest.param(
        "smtpd_sender_restrictions = reject_unknown_sender_domain", {}, MX,
        dict(sender="a@nx.example"),
        "450 4.1.8 <a@nx.example>: Sender address rejected: Domain not found",
        "NOQUEUE: reject: RCPT from mail.example.org[192.0.2.7]: 450 4.1.8 <a@nx.example>: "
        "Sender address rejected: Domain not found; from=<a@nx.example> to=<kororo@kororo.jp> "
        "proto=ESMTP helo=<mail.example.org>", id="unknown-sender-domain"),
    pytest.param(
        "smtpd_sender_restrictions = reject_non_fqdn_sender", {}, MX,
        dict(sender="a@localhost"),
        "504 5.5.2 <a@localhost>: Sender address rejected: need fully-qualified address",
        "NOQUEUE: reject: RCPT from mail.example.org[192.0.2.7]: 504 5.5.2 <a@localhost>: "
        "Sender address rejected: need fully-qualified address; from=<a@localhost> "
        "to=<kororo@kororo.jp> proto=ESMTP helo=<mail.example.org>", id="non-fqdn-sender"),
    pytest.param(
        "smtpd_helo_restrictions = reject_invalid_helo_hostname", {}, MX,
        dict(helo="bad_helo!"),
        "501 5.5.2 <bad_helo!>: Helo command rejected: Invalid name",
        "NOQUEUE: reject: RCPT from mail.example.org[192.0.2.7]: 501 5.5.2 <bad_helo!>: "
        "Helo command rejected: Invalid name; from=<a@example.org> to=<kororo@kororo.jp> "
        "proto=ESMTP helo=<bad_helo!>", id="invalid-helo"),
    pytest.param(
        "smtpd_helo_restrictions = reject_non_fqdn_helo_hostname", {}, MX, dict(helo="pc5"),
        "504 5.5.2 <pc5>: Helo command rejected: need fully-qualified hostname",
        "NOQUEUE: reject: RCPT from mail.example.org[192.0.2.7]: 504 5.5.2 <pc5>: "
        "Helo command rejected: need fully-qualified hostname; from=<a@example.org> "
        "to=<kororo@kororo.jp> proto=ESMTP helo=<pc5>", id="non-fqdn-helo"),
    pytest.param(
        "", {}, MX, dict(recipient="x@other.example"),
        "454 4.7.1 <x@other.example>: Relay access denied",
        "NOQUEUE: reject: RCPT from mail.example.org[192.0.2.7]: 454 4.7.1 <x@other.example>: "
        "Relay access denied; from=<a@example.org> to=<x@other.example> proto=ESMTP "
        "helo=<mail.example.org>", id="default-relay-restrictions"),
    pytest.param(
        "smtpd_client_restrictions = permit_mynetworks, //no-comment", {}, MX, {},
        "451 4.3.5 Server configuration error",
        "NOQUEUE: reject: RCPT from mail.example.org[192.0.2.7]: 451 4.3.5 Server "
        f"configuration error; {ENV}", id="unknown-restriction"),
    pytest.param(
        "", {}, MX, dict(recipient="nobody@kororo.jp"),
        "550 5.1.1 <nobody@kororo.jp>: Recipient address rejected: User unknown in local "
        "recipient table",
        "NOQUEUE: reject: RCPT from mail.example.org[192.0.2.7]: 550 5.1.1 <nobody@kororo.jp>: "
        "Recipient address rejected: User unknown in local recipient table; "
        "from=<a@example.org> to=<nobody@kororo.jp> proto=ESMTP helo=<mail.example.org>",
        id="implicit-unlisted-recipient"),
    pytest.param(
        "smtpd_recipient_restrictions = check_recipient_access inline:{{x@kororo.jp=550 5.1.1 "
        "gone}}", {}, MX, dict(client_addr="127.0.0.1", recipient="x@kororo.jp"),
        "550 5.1.1 <x@kororo.jp>: Recipient address rejected: gone",
        "NOQUEUE: reject: RCPT from mail.example.org[127.0.0.1]: 550 5.1.1 <x@kororo.jp>: "
        "Recipient address rejected: gone; from=<a@example.org> to=<x@kororo.jp> proto=ESMTP "
        "helo=<mail.example.org>", id="table-code-and-dsn"),
    pytest.param(
        "mynetworks = 192.0.2.0/16\nsmtpd_client_restrictions = permit_mynetworks", {}, MX, {},
        "451 4.3.0 <mail.example.org[192.0.2.7]>: Temporary lookup failure",
        "NOQUEUE: reject: RCPT from mail.example.org[192.0.2.7]: 451 4.3.0 "
        f"<mail.example.org[192.0.2.7]>: Temporary lookup failure; {ENV}",
        id="mynetworks-host-bits-tempfail"),
    pytest.param(
        "smtpd_client_restrictions = check_client_access hash:%DIR%/never_compiled", {}, MX,
        {}, "451 4.3.5 Server configuration error",
        "NOQUEUE: reject: RCPT from mail.example.org[192.0.2.7]: 451 4.3.5 Server "
        f"configuration error; {ENV}", id="missing-table-config-error"),
]


@pytest.mark.parametrize("maincf, tables, records, facts, reply, line", CASES)
def test_golden(policy, maincf, tables, records, facts, reply, line):
    for name, text in tables.items():
        policy.table(name, text)
    for record in records:
        policy.dns.add(*record)
    run = policy.rcpt(maincf, **facts)
    assert run.reply == reply
    assert line in run.lines("reject:")
