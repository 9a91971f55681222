"""Client hostname lookup (restrictions.md §5) against the DNS fixture."""

from __future__ import annotations

import asyncio

import pytest

from affix.dns.client_name import lookup_client_name
from affix.dns.resolver import Resolver
from affix.policy.request import NameStatus


@pytest.fixture
def resolver(dns_server):
    return Resolver([dns_server.address], timeout=0.3)


def _lookup(resolver, addr):
    return asyncio.run(lookup_client_name(resolver, addr))


def test_client_name_forward_confirmed_is_ok(dns_server, resolver):
    dns_server.add("7.2.0.192.in-addr.arpa", "PTR", "mail.example.org.")
    dns_server.add("mail.example.org", "A", "192.0.2.8")
    dns_server.add("mail.example.org", "A", "192.0.2.7")
    names = _lookup(resolver, "192.0.2.7")
    assert (names.name, names.reverse_name) == ("mail.example.org", "mail.example.org")
    assert names.name_status is NameStatus.OK and names.reverse_status is NameStatus.OK
    assert names.warning is None


def test_client_name_without_ptr_is_perm_unknown(resolver):
    names = _lookup(resolver, "198.51.100.9")
    assert (names.name, names.reverse_name) == ("unknown", "unknown")
    assert names.name_status is NameStatus.PERM and names.reverse_status is NameStatus.PERM


def test_client_name_ptr_servfail_is_temp(dns_server, resolver):
    dns_server.servfail("9.100.51.198.in-addr.arpa")
    names = _lookup(resolver, "198.51.100.9")
    assert names.name == "unknown" and names.reverse_name == "unknown"
    assert names.name_status is NameStatus.TEMP and names.reverse_status is NameStatus.TEMP


def test_client_name_forward_mismatch_is_forged_with_warning(dns_server, resolver):
    dns_server.add("30.113.0.203.in-addr.arpa", "PTR", "proxy.aaa.example.")
    dns_server.add("proxy.aaa.example", "A", "203.0.113.99")
    names = _lookup(resolver, "203.0.113.30")
    assert names.name == "unknown" and names.reverse_name == "proxy.aaa.example"
    assert names.name_status is NameStatus.FORGED and names.reverse_status is NameStatus.OK
    assert names.warning == "hostname proxy.aaa.example does not resolve to address 203.0.113.30"


def test_client_name_forward_nxdomain_is_forged_with_reason(dns_server, resolver):
    dns_server.add("30.113.0.203.in-addr.arpa", "PTR", "gone.example.")
    names = _lookup(resolver, "203.0.113.30")
    assert names.name_status is NameStatus.FORGED and names.reverse_name == "gone.example"
    assert names.warning == ("hostname gone.example does not resolve to address 203.0.113.30: "
                             "Name or service not known")


def test_client_name_forward_servfail_is_temp(dns_server, resolver):
    dns_server.add("30.113.0.203.in-addr.arpa", "PTR", "flaky.example.")
    dns_server.servfail("flaky.example")
    names = _lookup(resolver, "203.0.113.30")
    assert names.name == "unknown" and names.reverse_name == "flaky.example"
    assert names.name_status is NameStatus.TEMP and names.reverse_status is NameStatus.OK
    assert names.warning == ("hostname flaky.example does not resolve to address 203.0.113.30: "
                             "Temporary failure in name resolution")


def test_client_name_ipv6_uses_aaaa(dns_server, resolver):
    dns_server.add("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
                   "PTR", "v6.example.")
    dns_server.add("v6.example", "A", "192.0.2.1")
    dns_server.add("v6.example", "AAAA", "2001:db8::1")
    names = _lookup(resolver, "2001:db8::1")
    assert names.name == "v6.example" and names.name_status is NameStatus.OK
    assert ("v6.example", "AAAA") in dns_server.queries
    assert ("v6.example", "A") not in dns_server.queries


def test_client_name_ipv4_mapped_treated_as_ipv4(dns_server, resolver):
    dns_server.add("7.2.0.192.in-addr.arpa", "PTR", "mail.example.org.")
    dns_server.add("mail.example.org", "A", "192.0.2.7")
    names = _lookup(resolver, "::ffff:192.0.2.7")
    assert names.addr == "192.0.2.7" and names.name == "mail.example.org"


@pytest.mark.parametrize("addr", ["127.0.0.1", "::1"])
def test_client_name_loopback_is_localhost_without_query(dns_server, resolver, addr):
    names = _lookup(resolver, addr)
    assert names.name == "localhost" and names.name_status is NameStatus.OK
    assert dns_server.queries == []


def test_client_name_numeric_ptr_is_perm(dns_server, resolver):
    dns_server.add("7.2.0.192.in-addr.arpa", "PTR", "192.0.2.7.")
    names = _lookup(resolver, "192.0.2.7")
    assert names.name == "unknown" and names.reverse_status is NameStatus.PERM
    assert names.warning == "numeric hostname: 192.0.2.7"


def test_client_name_malformed_ptr_is_perm(dns_server, resolver):
    dns_server.add("7.2.0.192.in-addr.arpa", "PTR", "bad!name.example.")
    names = _lookup(resolver, "192.0.2.7")
    assert names.name == "unknown" and names.name_status is NameStatus.PERM


def test_client_name_lookups_cached_across_sessions(dns_server, resolver):
    dns_server.add("7.2.0.192.in-addr.arpa", "PTR", "mail.example.org.")
    dns_server.add("mail.example.org", "A", "192.0.2.7")
    _lookup(resolver, "192.0.2.7")
    _lookup(resolver, "192.0.2.7")
    assert dns_server.count("7.2.0.192.in-addr.arpa") == 1
    assert dns_server.count("mail.example.org") == 1
