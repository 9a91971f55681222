"""access(5) key order and action parsing (tables.md §3-4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from affix.tables import access
from affix.tables.access import (
    BadEntry,
    Bcc,
    DeferIfPermit,
    DeferIfReject,
    Discard,
    Dunno,
    Filter,
    Hold,
    Info,
    Permit,
    Prepend,
    Redirect,
    Reject,
    Restrictions,
    Warn,
)


def test_client_keys_hostname_parents_then_address_prefixes():
    assert access.client_keys("a.b.example.com", "192.168.10.5") == [
        "a.b.example.com", "b.example.com", "example.com", "com",
        "192.168.10.5", "192.168.10", "192.168", "192"]


def test_client_keys_dot_form_without_parent_domain_matching():
    assert access.client_keys("Mail.Example.COM", "192.0.2.7", parent_style=False) == [
        "mail.example.com", ".example.com", ".com",
        "192.0.2.7", "192.0.2", "192.0", "192"]


def test_unknown_client_name_is_looked_up_as_a_key():
    assert access.client_keys("unknown", "198.51.100.9")[0] == "unknown"


def test_ipv6_address_cut_at_colons_of_compressed_form():
    assert access.address_prefix_keys("2001:0DB8:0:0::1") == [
        "2001:db8::1", "2001:db8:", "2001:db8", "2001"]


def test_ipv4_mapped_ipv6_is_treated_as_ipv4():
    assert access.address_prefix_keys("::ffff:192.0.2.1") == [
        "192.0.2.1", "192.0.2", "192.0", "192"]


def test_bare_ip_helo_is_looked_up_only_as_itself():
    assert access.host_keys("192.0.2.1") == ["192.0.2.1"]
    assert access.host_keys("2001:db8::1") == ["2001:db8::1"]


def test_address_literal_helo_yields_meaningless_suffixes_not_the_address():
    keys = access.host_keys("[192.0.2.1]")
    assert keys == ["[192.0.2.1]", "0.2.1]", "2.1]", "1]"]
    assert "192.0.2.1" not in keys


def test_pattern_tables_get_only_the_full_unmodified_string():
    assert access.client_keys("Mail.Example.com", "192.0.2.7", fixed=False) == [
        "Mail.Example.com", "192.0.2.7"]
    assert access.mail_address_keys("User@Example.com", fixed=False) == ["User@Example.com"]
    assert access.host_keys("HELO.example", fixed=False) == ["HELO.example"]


def test_sender_keys_with_extension():
    assert access.mail_address_keys("User+Ext@a.Example.com", delimiters="+") == [
        "user+ext@a.example.com", "user@a.example.com", "a.example.com", "example.com",
        "com", "user+ext@", "user@"]


def test_sender_keys_without_delimiter_and_dot_form():
    assert access.mail_address_keys("spam@spam.org", parent_style=False) == [
        "spam@spam.org", "spam.org", ".org", "spam@"]


def test_delimiter_at_start_of_localpart_is_not_an_extension():
    assert access.mail_address_keys("+x@d.example", delimiters="+") == [
        "+x@d.example", "d.example", "example", "+x@"]


@pytest.mark.parametrize("value, action", [
    ("OK", Permit("OK")),
    ("ok whatever", Permit("OK")),
    ("RELAY", Permit("RELAY")),
    ("1234567890", Permit("1234567890")),
    ("554", Permit("554")),  # all digits: a permit, not a reject
    ("550 go away", Reject("CODE", 550, None, "go away")),
    ("421 4.7.0 closing", Reject("CODE", 421, "4.7.0", "closing")),
    ("REJECT", Reject("REJECT", None, None, None)),
    ("reject 5.7.1 spam source", Reject("REJECT", None, "5.7.1", "spam source")),
    ("DEFER", Reject("DEFER", None, None, None)),
    ("DEFER try later", Reject("DEFER", None, None, "try later")),
    ("DEFER_IF_REJECT", DeferIfReject(None, None)),
    ("DEFER_IF_PERMIT 4.7.2 later", DeferIfPermit("4.7.2", "later")),
    ("DUNNO", Dunno()),
    ("DISCARD", Discard(None)),
    ("DISCARD bye", Discard("bye")),
    ("HOLD", Hold(None)),
    ("HOLD look at it", Hold("look at it")),
    ("REDIRECT a@example.com", Redirect("a@example.com")),
    ("FILTER smtp:[127.0.0.1]:10025", Filter("smtp:[127.0.0.1]:10025")),
    ("BCC archive@example.com", Bcc("archive@example.com")),
    ("PREPEND X-Checked: yes", Prepend("X-Checked: yes")),
    ("WARN odd client", Warn("odd client")),
    ("INFO seen", Info("seen")),
    ("reject_unknown_client_hostname, permit",
     Restrictions(("reject_unknown_client_hostname", "permit"))),
    ("my_class", Restrictions(("my_class",))),
    # digits of other scripts make no reply code ('²' would crash int(), '٣' read as 3)
    ("45² go away", Restrictions(("45²", "go", "away"))),
    ("250 fine thanks", Restrictions(("250", "fine", "thanks"))),
    ("4٣5 weird", Restrictions(("4٣5", "weird"))),
    ("REDIRECT nobody", BadEntry("REDIRECT", "REDIRECT nobody", "requires user@domain target")),
    ("FILTER nothing", BadEntry("FILTER", "FILTER nothing", "requires transport:destination")),
    ("PREPEND not a header", BadEntry("PREPEND", "PREPEND not a header",
                                      "requires header: text")),
    ("check_client_access hash:/etc/x",
     BadEntry("", "check_client_access hash:/etc/x", "lookup table inside the value")),
])
def test_every_action_parsed(value, action):
    assert access.parse_action(value) == action


@given(st.text(alphabet="abcdefgh.-", min_size=1, max_size=30))
def test_domain_keys_are_suffixes_ending_with_the_top_label(name):
    keys = access.host_keys(name)
    assert keys[0] == name
    assert all(name.endswith(k) for k in keys)
    assert len(keys) == len(set(keys)) or name.count(".") > 0


@given(st.ip_addresses())
def test_address_keys_are_prefixes_of_the_canonical_address(ip):
    keys = access.address_prefix_keys(str(ip))
    assert keys[0] == access.canonical_ip(str(ip))
    assert all(keys[0].startswith(k) for k in keys)
    assert len(keys) >= 1


@given(st.text(min_size=1, max_size=60))
def test_parse_action_never_raises(value):
    access.parse_action(value)


def test_reply_codes_and_dsns_are_ascii_digits():
    """An RBL template or policy default `4٣5 ...` is no reply code (int() would read 435),
    and no DSN may carry other digits into a reply."""
    from affix.policy.response import parse_reply_text

    assert parse_reply_text("450 4.7.1 later") == (450, "4.7.1", "later")
    assert parse_reply_text("4٣5 4.7.1 later") is None
    assert parse_reply_text("450 4.٣.1 later") == (450, "4.7.1", "4.٣.1 later")
