"""access(5) search order through the engine with real tables (tables.md §3; pitfalls P14)."""

from __future__ import annotations

import pytest

ISOLATED = "smtpd_relay_restrictions =\nsmtpd_reject_unlisted_recipient = no\n"


def client_check(policy, table_text, table_type="texthash", **facts):
    policy.table("access", table_text)
    return policy.rcpt(ISOLATED + "smtpd_client_restrictions = check_client_access "
                       f"{table_type}:%DIR%/access", **facts)


@pytest.mark.parametrize("addr, rejected", [
    ("192.168.10.5", True), ("192.168.10.250", True), ("192.168.1.5", False),
    ("192.168.0.100", True), ("192.168.0.101", False)])
def test_partial_ipv4_network_keys_in_hash_table(policy, addr, rejected):
    run = client_check(policy, "192.168.0.100 REJECT\n192.168.10 REJECT\n", "hash",
                       client_addr=addr, client_name="unknown")
    assert (run.reply is not None) is rejected


def test_partial_network_key_never_matches_in_cidr_table(policy):
    run = client_check(policy, "192.168.10 REJECT\n", "cidr", client_addr="192.168.10.5")
    assert run.reply is None
    ok = client_check(policy, "192.168.10.0/24 REJECT\n", "cidr", client_addr="192.168.10.5")
    assert ok.reply is not None


def test_ipv6_prefix_cut_at_colons(policy):
    table = "2001:db8 REJECT\n"
    assert client_check(policy, table, client_addr="2001:db8::1").reply is not None
    assert client_check(policy, table, client_addr="2001:db9::1").reply is None


def test_parent_domain_matches_subdomains_by_default(policy):
    run = client_check(policy, "example.org REJECT\n")
    assert run.reply.startswith("554 5.7.1 <mail.example.org[192.0.2.7]>")


def test_dot_domain_form_without_parent_domain_matching(policy):
    settings = "parent_domain_matches_subdomains = relay_domains\n"
    policy.table("access", "example.org REJECT\n.example.org 550 dotted\n")
    run = policy.rcpt(ISOLATED + settings + "smtpd_client_restrictions = check_client_access "
                      "texthash:%DIR%/access")
    assert run.reply == "550 5.7.1 <mail.example.org[192.0.2.7]>: Client host rejected: dotted"


def test_dunno_entry_stops_the_search(policy):
    run = client_check(policy, "mail.example.org DUNNO\nexample.org REJECT\n192.0.2.7 REJECT\n")
    assert run.reply is None
    assert run.trace[0].consulted[0].endswith("mail.example.org = DUNNO")


def test_found_hostname_entry_hides_the_address(policy):
    run = client_check(policy, "org 551 by name\n192.0.2.7 552 by address\n")
    assert run.reply.endswith("by name")


@pytest.mark.parametrize("sender, reply_text", [
    ("user+ext@sub.example.org", "full"),
    ("user+other@sub.example.org", "user@domain"),
    ("x@sub.example.org", "domain"),
    ("x@a.b.example.org", "parent"),
    ("user+ext@elsewhere.example", "user+ext@"),
    ("user+zzz@elsewhere.example", "user@"),
    ("", "null sender"),
])
def test_sender_key_order(policy, sender, reply_text):
    policy.table("senders", "user+ext@sub.example.org 550 full\n"
                 "user@sub.example.org 550 user@domain\nsub.example.org 550 domain\n"
                 "b.example.org 550 parent\nuser+ext@ 550 user+ext@\nuser@ 550 user@\n"
                 "<> 550 null sender\n")
    run = policy.rcpt(ISOLATED + "recipient_delimiter = +\nsmtpd_sender_restrictions = "
                      "check_sender_access texthash:%DIR%/senders", sender=sender)
    assert run.reply.endswith(f"Sender address rejected: {reply_text}")


def test_unqualified_sender_is_looked_up_with_myorigin(policy):
    run = policy.rcpt(ISOLATED + "smtpd_sender_restrictions = check_sender_access "
                      "inline:{kororo@mx.kororo.jp=REJECT}", sender="kororo")
    assert run.reply == "554 5.7.1 <kororo>: Sender address rejected: Access denied"


def test_regexp_table_gets_only_the_full_unmodified_address(policy):
    policy.file("senders.re", "/^User@Example\\.org$/ REJECT\n/^example\\.org$/ REJECT\n")
    base = ISOLATED + "smtpd_sender_restrictions = check_sender_access regexp:%DIR%/senders.re"
    assert policy.rcpt(base, sender="User@Example.org").reply is not None
    assert policy.rcpt(base, sender="other@example.org").reply is None


def test_helo_literal_does_not_match_address_key(policy):
    policy.table("helo", "192.0.2.7 REJECT\n")
    base = ISOLATED + "smtpd_helo_restrictions = check_helo_access texthash:%DIR%/helo"
    assert policy.rcpt(base, helo="[192.0.2.7]").reply is None
    assert policy.rcpt(base, helo="192.0.2.7").reply is not None
