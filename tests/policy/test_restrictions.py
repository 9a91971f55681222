"""Every restriction of restrictions.md §4, once rejecting and once letting the request through.

Each case puts the restriction alone (or before `reject` for the permit_* kind) in
smtpd_recipient_restrictions; the DNS fixture answers the lookups.
"""

from __future__ import annotations

import pytest

from affix.policy.request import NameStatus, Stage

ISOLATED = "smtpd_relay_restrictions =\nsmtpd_reject_unlisted_recipient = no\n"
EXAMPLE = [("example.org", "MX", "10 mail.example.org"), ("mail.example.org", "A", "192.0.2.7")]
LISTED = "127.0.0.2"
DENIED = "554 5.7.1 <kororo@kororo.jp>: Recipient address rejected: Access denied"
RCPT_CLASS = "Recipient address rejected"


def case(name, rule, reject_facts, reply, pass_facts, records=(), pass_records=()):
    return pytest.param(rule, reject_facts, list(records), reply, pass_facts, list(pass_records),
                        id=name)


CASES = [
    case("permit_mynetworks", "permit_mynetworks, reject", {}, DENIED,
         dict(client_addr="127.0.0.1")),
    case("permit_sasl_authenticated", "permit_sasl_authenticated, reject", {}, DENIED,
         dict(sasl_username="kororo")),
    case("permit_inet_interfaces", "permit_inet_interfaces, reject", {}, DENIED,
         dict(client_addr="127.0.0.1")),
    case("check_client_access", "check_client_access inline:{192.0.2=REJECT}", {},
         "554 5.7.1 <mail.example.org[192.0.2.7]>: Client host rejected: Access denied",
         dict(client_addr="198.51.100.1")),
    case("check_reverse_client_hostname_access",
         "check_reverse_client_hostname_access inline:{example.org=REJECT}",
         dict(client_name="unknown"),
         "554 5.7.1 <mail.example.org[192.0.2.7]>: Client host rejected: Access denied",
         dict(reverse_name="mx.other.example")),
    case("check_helo_access", "check_helo_access inline:{example.org=REJECT}", {},
         "554 5.7.1 <mail.example.org>: Helo command rejected: Access denied",
         dict(helo="mx.other.example")),
    case("check_sender_access", "check_sender_access inline:{a@=REJECT}", {},
         "554 5.7.1 <a@example.org>: Sender address rejected: Access denied",
         dict(sender="b@example.org")),
    case("check_recipient_access", "check_recipient_access inline:{kororo.jp=REJECT}", {},
         DENIED, dict(recipient="kororo@other.example")),
    case("reject_rbl_client", "reject_rbl_client zen.example=127.0.0.[2..11]", {},
         "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.example; "
         "listed for spam", {}, [("7.2.0.192.zen.example", "A", LISTED),
                                 ("7.2.0.192.zen.example", "TXT", "listed for spam")],
         [("7.2.0.192.zen.example", "A", "127.255.255.254")]),
    case("reject_rbl_client_ipv6", "reject_rbl_client bl.example", dict(client_addr="2001:db8::1"),
         "554 5.7.1 Service unavailable; Client host [2001:db8::1] blocked using bl.example",
         dict(client_addr="2001:db8::2"),
         [("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example", "A",
           LISTED)]),
    case("reject_rhsbl_client", "reject_rhsbl_client rhs.example", {},
         "554 5.7.1 Service unavailable; Client host [mail.example.org] blocked using "
         "rhs.example", dict(client_name="unknown"),
         [("mail.example.org.rhs.example", "A", LISTED)],
         [("mail.example.org.rhs.example", "A", LISTED)]),
    case("reject_rhsbl_reverse_client", "reject_rhsbl_reverse_client rhs.example", {},
         "554 5.7.1 Service unavailable; Unverified Client host [mail.example.org] blocked "
         "using rhs.example", dict(reverse_name="mx.other.example"),
         [("mail.example.org.rhs.example", "A", LISTED)]),
    case("reject_rhsbl_helo", "reject_rhsbl_helo rhs.example", {},
         "554 5.7.1 Service unavailable; Helo command [mail.example.org] blocked using "
         "rhs.example", dict(helo="[192.0.2.7]"), [("mail.example.org.rhs.example", "A", LISTED)]),
    case("reject_rhsbl_sender", "reject_rhsbl_sender rhs.example", {},
         "554 5.7.1 Service unavailable; Sender address [a@example.org] blocked using "
         "rhs.example", dict(sender=""), [("example.org.rhs.example", "A", LISTED)]),
    case("reject_rhsbl_recipient", "reject_rhsbl_recipient rhs.example", {},
         "554 5.7.1 Service unavailable; Recipient address [kororo@kororo.jp] blocked using "
         "rhs.example", dict(recipient="kororo@other.example"),
         [("kororo.jp.rhs.example", "A", LISTED)]),
    case("permit_dnswl_client", "permit_dnswl_client wl.example, reject", {}, DENIED, {}, [],
         [("7.2.0.192.wl.example", "A", LISTED)]),
    case("permit_rhswl_client", "permit_rhswl_client wl.example, reject", {}, DENIED, {}, [],
         [("mail.example.org.wl.example", "A", LISTED)]),
    case("reject_unknown_client_hostname", "reject_unknown_client_hostname",
         dict(client_name="unknown", name_status=NameStatus.PERM),
         "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.7]", {}),
    case("reject_unknown_reverse_client_hostname", "reject_unknown_reverse_client_hostname",
         dict(client_name="unknown", reverse_name="unknown", reverse_status=NameStatus.TEMP),
         "450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.7]",
         dict(client_name="unknown", name_status=NameStatus.FORGED)),
    case("reject_invalid_helo_hostname", "reject_invalid_helo_hostname", dict(helo="a..b"),
         "501 5.5.2 <a..b>: Helo command rejected: Invalid name", dict(helo="192.0.2.7")),
    case("reject_invalid_helo_hostname_literal", "reject_invalid_helo_hostname",
         dict(helo="[300.1.1.1]"), "501 5.5.2 <[300.1.1.1]>: Helo command rejected: invalid "
         "ip address", dict(helo="[IPv6:2001:db8::1]")),
    case("reject_non_fqdn_helo_hostname", "reject_non_fqdn_helo_hostname",
         dict(helo="192.0.2.7"), "504 5.5.2 <192.0.2.7>: Helo command rejected: need "
         "fully-qualified hostname", dict(helo="pc5.kororo.jp.")),
    case("reject_unknown_helo_hostname", "reject_unknown_helo_hostname", dict(helo="192.0.2.7"),
         "450 4.7.1 <192.0.2.7>: Helo command rejected: Host not found",
         dict(helo="mx.other.example"), [],
         [("mx.other.example", "MX", "0 .")]),  # a null MX counts as existing
    case("reject_unknown_sender_domain", "reject_unknown_sender_domain",
         dict(sender="a@null.example"),
         "550 5.7.27 <a@null.example>: Sender address rejected: Domain null.example does not "
         "accept mail (nullMX)", dict(sender="a@host.example"),
         [("null.example", "MX", "0 .")], [("host.example", "AAAA", "2001:db8::5")]),
    case("reject_non_fqdn_sender", "reject_non_fqdn_sender", dict(sender="a"),
         "504 5.5.2 <a>: Sender address rejected: need fully-qualified address",
         dict(sender="a@[192.0.2.1]")),
    case("reject_unknown_recipient_domain", "reject_unknown_recipient_domain",
         dict(recipient="x@nx.example"),
         "450 4.1.2 <x@nx.example>: Recipient address rejected: Domain not found",
         dict(recipient="x@example.org"), EXAMPLE, EXAMPLE),
    case("reject_non_fqdn_recipient", "reject_non_fqdn_recipient", dict(recipient="x@host"),
         "504 5.5.2 <x@host>: Recipient address rejected: need fully-qualified address", {}),
    case("permit_auth_destination", "permit_auth_destination, reject",
         dict(recipient="x@other.example"),
         "554 5.7.1 <x@other.example>: Recipient address rejected: Access denied", {}),
    case("reject_unauth_destination", "reject_unauth_destination",
         dict(recipient="x@other.example"), "554 5.7.1 <x@other.example>: Relay access denied",
         dict(recipient="x@relay.example")),
    case("reject_unauth_destination_percent_hack", "reject_unauth_destination",
         dict(recipient="x%other.example@kororo.jp"),
         "554 5.7.1 <x%other.example@kororo.jp>: Relay access denied",
         dict(recipient="X@Kororo.JP.")),
    case("reject_unauth_destination_source_route", "reject_unauth_destination",
         dict(recipient="@kororo.jp:x@other.example"),
         "554 5.7.1 <@kororo.jp:x@other.example>: Relay access denied",
         dict(recipient="x@sub.relay.example")),
    case("reject_unauth_destination_bang_path", "reject_unauth_destination",
         dict(recipient="other.example!x@kororo.jp"),
         "554 5.7.1 <other.example!x@kororo.jp>: Relay access denied",
         dict(recipient="x@[127.0.0.1]")),
    case("defer_unauth_destination", "defer_unauth_destination",
         dict(recipient="x@other.example"), "454 4.7.1 <x@other.example>: Relay access denied",
         {}),
    case("reject_unauth_pipelining", "reject_unauth_pipelining",
         dict(illegal_pipelining=True), "503 5.5.0 <kororo@kororo.jp>: Recipient address "
         "rejected: Improper use of SMTP command pipelining", {}),
    case("reject_unlisted_recipient", "reject_unlisted_recipient",
         dict(recipient="nobody@kororo.jp"), "550 5.1.1 <nobody@kororo.jp>: Recipient address "
         "rejected: User unknown in local recipient table", dict(recipient="Kororo@kororo.jp")),
    case("reject_unlisted_recipient_virtual", "reject_unlisted_recipient",
         dict(recipient="nobody@virt.example"), "550 5.1.1 <nobody@virt.example>: Recipient "
         "address rejected: User unknown in virtual alias table",
         dict(recipient="info@virt.example")),
    case("reject_unlisted_sender", "reject_unlisted_sender", dict(sender="nobody@kororo.jp"),
         "550 5.1.0 <nobody@kororo.jp>: Sender address rejected: User unknown in local "
         "recipient table", dict(sender="kororo@kororo.jp")),
    case("reject_multi_recipient_bounce", "reject_multi_recipient_bounce",
         dict(sender="", recipients=["a@kororo.jp"]), "550 5.5.3 <kororo@kororo.jp>: "
         "Recipient address rejected: Multi-recipient bounce", dict(sender="")),
    case("reject_plaintext_session", "reject_plaintext_session", {},
         "450 4.7.1 Session encryption is required", dict(tls_active=True)),
    case("sleep", "sleep 0, reject", {}, DENIED, dict(recipient="postmaster")),
    case("reject_maps_rbl", "reject_maps_rbl", {},
         "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using old.example",
         dict(client_addr="192.0.2.8"), [("7.2.0.192.old.example", "A", LISTED)]),
    case("check_relay_domains", "check_relay_domains", dict(recipient="x@other.example"),
         "554 5.7.1 <x@other.example>: Relay access denied", dict(recipient="x@kororo.jp")),
    case("permit_naked_ip_address", "permit_naked_ip_address, reject", {}, DENIED,
         dict(helo="192.0.2.7")),
    case("reject_rbl_alias", "reject_rbl bl.example", {},
         "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using bl.example", {},
         [("7.2.0.192.bl.example", "A", LISTED)], []),
]

SETTINGS = ISOLATED + """\
relay_domains = relay.example
virtual_alias_domains = virt.example
virtual_alias_maps = inline:{ info@virt.example=kororo }
maps_rbl_domains = old.example
"""


@pytest.mark.parametrize("rule, reject_facts, records, reply, pass_facts, pass_records", CASES)
def test_restriction_rejects_and_lets_through(policy, rule, reject_facts, records, reply,
                                              pass_facts, pass_records):
    maincf = SETTINGS + f"smtpd_recipient_restrictions = {rule}\n"
    for record in records:
        policy.dns.add(*record)
    engine = policy.engine(maincf)
    rejected = policy.check(engine, Stage.RCPT, policy.session(**reject_facts))
    assert rejected.reply == reply
    policy.dns.clear()
    for record in pass_records:
        policy.dns.add(*record)
    engine = policy.engine(maincf)  # a new resolver: no cached answers
    passed = policy.check(engine, Stage.RCPT, policy.session(**pass_facts))
    assert passed.reply is None, passed.log


def test_check_etrn_access(policy):
    engine = policy.engine("smtpd_etrn_restrictions = check_etrn_access "
                           "inline:{kororo.jp=REJECT}")
    rejected = policy.check(engine, Stage.ETRN, policy.session(etrn_domain="mail.kororo.jp"))
    assert rejected.reply == "554 5.7.1 <mail.kororo.jp>: Etrn command rejected: Access denied"
    assert policy.check(engine, Stage.ETRN, policy.session(etrn_domain="other.example")) \
        .reply is None


def test_rbl_temporary_error_counts_as_not_listed_with_one_warning(policy):
    """The zone named in two lists is asked once a session, and warned about once (as
    Postfix's RBL cache does)."""
    policy.dns.servfail("7.2.0.192.bl.example")
    run = policy.rcpt(ISOLATED + "smtpd_client_restrictions = reject_rbl_client bl.example\n"
                                 "smtpd_recipient_restrictions = reject_rbl_client bl.example")
    assert run.reply is None
    assert [line.startswith("warning: 7.2.0.192.bl.example: RBL lookup error:")
            for line in run.lines("warning")] == [True]


def test_dnswl_temporary_error_raises_defer_if_reject(policy):
    policy.dns.servfail("7.2.0.192.wl.example")
    run = policy.rcpt(ISOLATED + "smtpd_client_restrictions = permit_dnswl_client "
                                 "wl.example, reject")
    assert run.reply == "450 4.7.1 <192.0.2.7>: Client host rejected: Service unavailable"


def test_dnswl_does_not_open_the_relay(policy):
    policy.dns.add("7.2.0.192.wl.example", "A", LISTED)
    run = policy.rcpt("smtpd_relay_restrictions = permit_dnswl_client wl.example, "
                      "reject_unauth_destination", recipient="x@other.example")
    assert run.reply == "554 5.7.1 <x@other.example>: Relay access denied"


def test_rbl_reply_maps_and_template_variables(policy):
    policy.dns.add("7.2.0.192.bl.example", "A", LISTED)
    policy.file("rbl_replies", "bl.example=127.0.0.2 $rbl_code 5.7.1 $client_address via "
                "$rbl_domain for ${sender_name}; ${rbl_reason?{why: $rbl_reason}:{no reason}}\n")
    run = policy.rcpt(ISOLATED + "smtpd_client_restrictions = reject_rbl_client "
                      "bl.example=127.0.0.2\nrbl_reply_maps = texthash:%DIR%/rbl_replies")
    assert run.reply == ("554 5.7.1 192.0.2.7 via bl.example for a; no reason")


def test_rbl_template_without_code_is_a_configuration_error(policy):
    policy.dns.add("7.2.0.192.bl.example", "A", LISTED)
    run = policy.rcpt(ISOLATED + "default_rbl_reply = blocked\n"
                      "smtpd_client_restrictions = reject_rbl_client bl.example")
    assert run.reply == "450 4.7.1 Service unavailable"
    assert "warning: rbl response code configuration error: blocked" in run.lines("warning")


def test_rbl_expansion_filter_replaces_client_supplied_characters(policy):
    policy.dns.add("mail.example.org.rhs.example", "A", LISTED)
    run = policy.rcpt(ISOLATED + "smtpd_expansion_filter = abcdefghijklmnopqrstuvwxyz.\n"
                      "default_rbl_reply = 554 helo $helo_name\n"
                      "smtpd_helo_restrictions = reject_rhsbl_helo rhs.example",
                      helo="Mail.example.org")
    assert run.reply == "554 5.7.1 helo _ail.example.org"


def test_bad_rbl_filter_is_fatal_for_the_request(policy):
    run = policy.rcpt(ISOLATED + "smtpd_client_restrictions = reject_rbl_client "
                      "bl.example=127.0.0.[300]")
    assert run.reply == "451 4.3.5 Server configuration error"
    assert any("RBL reply error" in line for line in run.lines("fatal"))


def test_recipient_access_ok_ignored_for_source_routed_address(policy):
    run = policy.rcpt(ISOLATED + "smtpd_recipient_restrictions = check_recipient_access "
                      "inline:{kororo.jp=OK}, reject", recipient="x%other.example@kororo.jp")
    assert run.reply.startswith("554 5.7.1 <x%other.example@kororo.jp>")


def test_empty_local_recipient_maps_accepts_any_local_user(policy):
    run = policy.rcpt("local_recipient_maps =\n", recipient="anyone@kororo.jp")
    assert run.reply is None


def test_passwd_table_knows_system_users(policy):
    maincf = "local_recipient_maps = proxy:unix:passwd.byname\n"
    assert policy.rcpt(maincf, recipient="root@kororo.jp").reply is None
    assert policy.rcpt(maincf, recipient="no-such-user-xyz@kororo.jp").reply == (
        "550 5.1.1 <no-such-user-xyz@kororo.jp>: Recipient address rejected: User unknown in "
        "local recipient table")
