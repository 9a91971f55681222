"""MatchList for list-type parameters (tables.md §7)."""

from __future__ import annotations

import pytest

from affix.config.snapshot import load_config
from affix.tables import TableError
from affix.tables.matchlist import MatchList

CFG = load_config(None)


def ml(param: str, value: str) -> MatchList:
    return MatchList(CFG, param, None, value=value)


def test_networks_v4_v6_and_exact_addresses():
    m = ml("mynetworks", "127.0.0.0/8 [::1]/128 192.0.2.7 [2001:db8::]/32")
    assert m.match_address("127.1.2.3")
    assert m.match_address("::1")
    assert m.match_address("192.0.2.7")
    assert not m.match_address("192.0.2.8")
    assert m.match_address("2001:db8:1::9")
    assert m.match_address("::ffff:127.0.0.1")  # IPv4-mapped is IPv4
    assert not m.match_address("8.8.8.8")


def test_exclusion_first_match_wins():
    m = ml("mynetworks", "!10.1.0.0/16 10.0.0.0/8")
    assert not m.match_address("10.1.2.3")
    assert m.match_address("10.2.2.3")
    m = ml("mynetworks", "10.0.0.0/8 !10.1.0.0/16")
    assert m.match_address("10.1.2.3")


def test_host_bits_set_is_a_temporary_failure_when_reached():
    m = ml("mynetworks", "127.0.0.0/8 192.168.1.0/16")
    assert m.match_address("127.0.0.1")  # matched before the bad element
    with pytest.raises(TableError, match="non-null host address bits"):
        m.match_address("10.0.0.1")


def test_parent_domain_matching_depends_on_parameter():
    relay = ml("relay_domains", "example.com")  # listed in parent_domain_matches_subdomains
    assert relay.match_domain("example.com")
    assert relay.match_domain("mail.example.com")
    dest = ml("mydestination", "example.com")  # not listed
    assert dest.match_domain("EXAMPLE.com")
    assert not dest.match_domain("mail.example.com")


def test_dot_domain_matches_only_subdomains():
    m = ml("mydestination", ".example.com")
    assert m.match_domain("a.example.com")
    assert not m.match_domain("example.com")


def test_client_matches_by_name_or_address():
    m = ml("smtpd_authorized_xclient_hosts", "mail.example.com 192.0.2.0/24")
    assert m.match_client("mail.example.com", "203.0.113.1")
    assert m.match_client("unknown", "192.0.2.9")
    assert not m.match_client("other.example.com", "203.0.113.1")


def test_file_element_contents_and_table_lookups(tmp_path):
    f = tmp_path / "nets"
    f.write_text("# trusted\n192.0.2.0/24\n198.51.100.1, example.org\n")
    cidr = tmp_path / "c.cidr"
    cidr.write_text("203.0.113.0/24 yes\n")
    m = ml("mynetworks", f"{f} cidr:{cidr} inline:{{host.example.net=1}}")
    assert m.match_address("192.0.2.200")
    assert m.match_address("198.51.100.1")
    assert m.match_address("203.0.113.5")
    assert m.match_client("host.example.net", "8.8.8.8")
    assert not m.match_address("8.8.8.8")


def test_fixed_table_parent_lookups_follow_the_parent_setting():
    relay = ml("relay_domains", "inline:{example.com=x}")
    assert relay.match_domain("a.b.example.com")
    dest = ml("mydestination", "inline:{.example.com=x}")
    assert dest.match_domain("a.example.com")
    assert not dest.match_domain("example.com")


def test_missing_file_and_broken_table_fail_temporarily(tmp_path):
    with pytest.raises(TableError, match="No such file"):
        ml("mynetworks", str(tmp_path / "missing")).match_address("1.2.3.4")
    with pytest.raises(TableError, match="unavailable"):
        ml("relay_domains", f"hash:{tmp_path / 'nodb'}").match_domain("x.org")
