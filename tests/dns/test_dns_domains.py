"""host_lookup (HELO) and mail_domain_lookup (sender/recipient domains) against the fixture."""

from __future__ import annotations

import asyncio

import pytest

from affix.dns.domains import DomainStatus, host_lookup, mail_domain_lookup
from affix.dns.resolver import Resolver


@pytest.fixture
def resolver(dns_server):
    return Resolver([dns_server.address], timeout=0.3)


def _host(resolver, name):
    return asyncio.run(host_lookup(resolver, name))


def _domain(resolver, name):
    return asyncio.run(mail_domain_lookup(resolver, name))


def test_host_lookup_a_record_stops_there(dns_server, resolver):
    dns_server.add("mail.example.org", "A", "192.0.2.7")
    result = _host(resolver, "mail.example.org")
    assert result.status is DomainStatus.OK and result.rdtype == "A"
    assert dns_server.queries == [("mail.example.org", "A")]


def test_host_lookup_falls_back_to_aaaa_then_mx(dns_server, resolver):
    dns_server.add("v6.example", "AAAA", "2001:db8::25")
    assert _host(resolver, "v6.example").rdtype == "AAAA"
    dns_server.add("mxonly.example", "MX", "10 mx.example.")
    result = _host(resolver, "mxonly.example")
    assert result.ok and result.rdtype == "MX"
    assert [t for n, t in dns_server.queries if n == "mxonly.example"] == ["A", "AAAA", "MX"]


def test_host_lookup_null_mx_counts_as_success(dns_server, resolver):
    dns_server.add("nullmx.example", "MX", "0 .")
    assert _host(resolver, "nullmx.example").ok


def test_host_lookup_unknown_host_not_found(resolver):
    result = _host(resolver, "alor.aaa.example")
    assert result.status is DomainStatus.NOTFOUND
    assert "name=alor.aaa.example" in result.reason


def test_host_lookup_tempfail_wins_over_not_found(dns_server, resolver):
    dns_server.servfail("flaky.example")
    assert _host(resolver, "flaky.example").status is DomainStatus.TEMPFAIL


def test_host_lookup_success_wins_over_tempfail(dns_server, resolver):
    dns_server.servfail("partly.example", "A")
    dns_server.add("partly.example", "MX", "10 mx.partly.example.")
    assert _host(resolver, "partly.example").ok


def test_host_lookup_tempfail_then_not_found_is_tempfail(dns_server, resolver):
    dns_server.servfail("partly.example", "A")
    dns_server.add("partly.example", "TXT", "no address, no MX")
    result = _host(resolver, "partly.example")
    assert result.status is DomainStatus.TEMPFAIL and result.reason.endswith("try again")


def test_host_lookup_bare_ip_is_not_found_without_query(dns_server, resolver):
    assert _host(resolver, "192.0.2.7").status is DomainStatus.NOTFOUND
    assert dns_server.queries == []


@pytest.mark.parametrize("literal, status", [
    ("[192.0.2.7]", DomainStatus.OK), ("[IPv6:2001:db8::1]", DomainStatus.OK),
    ("[192.0.2.300]", DomainStatus.NOTFOUND), ("[2001:db8::1]", DomainStatus.NOTFOUND),
])
def test_host_lookup_literal_only_validated(dns_server, resolver, literal, status):
    assert _host(resolver, literal).status is status
    assert dns_server.queries == []


def test_mail_domain_mx_found(dns_server, resolver):
    dns_server.add("example.org", "MX", "10 mx.example.org.")
    result = _domain(resolver, "example.org")
    assert result.ok and result.records == ("10 mx.example.org",)
    assert dns_server.queries == [("example.org", "MX")]


def test_mail_domain_without_mx_uses_a(dns_server, resolver):
    dns_server.add("a-only.example", "A", "192.0.2.25")
    result = _domain(resolver, "a-only.example")
    assert result.ok and result.rdtype == "A"


def test_mail_domain_without_mx_uses_aaaa(dns_server, resolver):
    dns_server.add("v6only.example", "AAAA", "2001:db8::25")
    assert _domain(resolver, "v6only.example").rdtype == "AAAA"


def test_mail_domain_nxdomain_not_found_after_mx_only(dns_server, resolver):
    result = _domain(resolver, "nx.example")
    assert result.status is DomainStatus.NOTFOUND
    assert dns_server.queries == [("nx.example", "MX")]


def test_mail_domain_exists_without_address_records_not_found(dns_server, resolver):
    dns_server.add("txtonly.example", "TXT", "v=spf1 -all")
    assert _domain(resolver, "txtonly.example").status is DomainStatus.NOTFOUND


def test_mail_domain_null_mx(dns_server, resolver):
    dns_server.add("nomail.example", "MX", "0 .")
    dns_server.add("nomail.example", "A", "192.0.2.80")
    result = _domain(resolver, "nomail.example")
    assert result.status is DomainStatus.NULLMX
    assert result.reason == "Domain nomail.example does not accept mail (nullMX)"


def test_mail_domain_empty_mx_host_among_others_is_a_null_mx(dns_server, resolver):
    """As Postfix 3.7's resolver reads it (dns_get_rr: any MX with the empty host), though
    RFC 7505 asks for a lone `0 .`."""
    dns_server.add("odd.example", "MX", "0 .")
    dns_server.add("odd.example", "MX", "10 mx.odd.example.")
    assert _domain(resolver, "odd.example").status is DomainStatus.NULLMX


def test_mail_domain_empty_mx_host_with_nonzero_pref_is_a_null_mx(dns_server, resolver):
    dns_server.add("odd.example", "MX", "10 .")
    result = _domain(resolver, "odd.example")
    assert result.status is DomainStatus.NULLMX
    assert result.reason == "Domain odd.example does not accept mail (nullMX)"


def test_mail_domain_malformed_mx_host_is_malformed(dns_server, resolver):
    dns_server.add("bad.example", "MX", "10 bad!host.example.")
    result = _domain(resolver, "bad.example")
    assert result.status is DomainStatus.MALFORMED and result.warnings


def test_mail_domain_mx_tempfail(dns_server, resolver):
    dns_server.servfail("flaky.example")
    assert _domain(resolver, "flaky.example").status is DomainStatus.TEMPFAIL


def test_mail_domain_address_tempfail_after_no_mx(dns_server, resolver):
    dns_server.add("half.example", "TXT", "exists")  # no MX
    dns_server.timeout("half.example", "A")
    assert _domain(resolver, "half.example").status is DomainStatus.TEMPFAIL
