"""The DNS fixture server itself: a real server on loopback (UDP and TCP on one port)."""

from __future__ import annotations

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest


def _udp(server, name, rdtype, timeout=2.0):
    query = dns.message.make_query(name, rdtype)
    return dns.query.udp(query, server.host, port=server.port, timeout=timeout)


def _tcp(server, name, rdtype):
    query = dns.message.make_query(name, rdtype)
    return dns.query.tcp(query, server.host, port=server.port, timeout=2.0)


def test_fixture_answers_added_record_over_udp(dns_server):
    dns_server.add("mail.example.org", "A", "192.0.2.10", ttl=120)
    reply = _udp(dns_server, "mail.example.org", "A")
    assert reply.rcode() == dns.rcode.NOERROR
    assert [r.address for r in reply.answer[0]] == ["192.0.2.10"]
    assert reply.answer[0].ttl == 120
    assert dns_server.queries == [("mail.example.org", "A")]


def test_fixture_answers_over_tcp_on_the_same_port(dns_server):
    dns_server.add("example.org", "MX", "10 mx.example.org.")
    reply = _tcp(dns_server, "example.org", "MX")
    assert reply.answer[0][0].exchange.to_text() == "mx.example.org."
    assert dns_server.tcp_queries == [("example.org", "MX")]


def test_fixture_unknown_name_is_nxdomain_with_soa(dns_server):
    reply = _udp(dns_server, "nowhere.example", "A")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.authority and reply.authority[0].rdtype == dns.rdatatype.SOA


def test_fixture_other_type_only_is_nodata(dns_server):
    dns_server.add("host.example", "A", "192.0.2.1")
    reply = _udp(dns_server, "host.example", "MX")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer == []
    assert reply.authority[0].rdtype == dns.rdatatype.SOA


def test_fixture_parent_of_existing_name_is_nodata_not_nxdomain(dns_server):
    dns_server.add("a.b.example", "A", "192.0.2.1")
    assert _udp(dns_server, "b.example", "A").rcode() == dns.rcode.NOERROR


def test_fixture_servfail(dns_server):
    dns_server.servfail("broken.example")
    assert _udp(dns_server, "broken.example", "A").rcode() == dns.rcode.SERVFAIL


def test_fixture_timeout_never_answers(dns_server):
    dns_server.timeout("slow.example")
    with pytest.raises(dns.exception.Timeout):
        _udp(dns_server, "slow.example", "A", timeout=0.3)
    assert dns_server.count("slow.example", "A") == 1


def test_fixture_large_udp_answer_is_truncated(dns_server):
    for i in range(30):
        dns_server.add("big.example", "TXT", f"record number {i:02d} " + "x" * 20)
    query = dns.message.make_query("big.example", "TXT")
    with pytest.raises(dns.message.Truncated):
        dns.query.udp(query, dns_server.host, port=dns_server.port, timeout=2,
                      raise_on_truncation=True)
    assert len(_tcp(dns_server, "big.example", "TXT").answer[0]) == 30


def test_fixture_follows_cname_inside_its_data(dns_server):
    dns_server.add("alias.example", "CNAME", "real.example.")
    dns_server.add("real.example", "A", "192.0.2.7")
    reply = _udp(dns_server, "alias.example", "A")
    assert [rrset.rdtype for rrset in reply.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]


def test_fixture_txt_and_ptr_and_aaaa(dns_server):
    dns_server.add("2.0.0.127.bl.example", "TXT", 'listed "here"')
    dns_server.add("1.2.0.192.in-addr.arpa", "PTR", "mail.example.")
    dns_server.add("v6.example", "AAAA", "2001:db8::1")
    txt = _udp(dns_server, "2.0.0.127.bl.example", "TXT").answer[0][0]
    assert txt.strings == (b'listed "here"',)
    assert _udp(dns_server, "1.2.0.192.in-addr.arpa", "PTR").answer[0][0].target.to_text() \
        == "mail.example."
    assert _udp(dns_server, "v6.example", "AAAA").answer[0][0].address == "2001:db8::1"


def test_fixture_clear_forgets_records_and_queries(dns_server):
    dns_server.add("x.example", "A", "192.0.2.1")
    _udp(dns_server, "x.example", "A")
    dns_server.clear()
    assert dns_server.queries == []
    assert _udp(dns_server, "x.example", "A").rcode() == dns.rcode.NXDOMAIN


def test_fixture_main_cf_line_names_the_port(dns_server):
    assert dns_server.main_cf_line() == f"affix_dns_servers = 127.0.0.1:{dns_server.port}"


def test_fixture_failure_for_one_type_only(dns_server):
    dns_server.add("mixed.example", "A", "192.0.2.1")
    dns_server.servfail("mixed.example", "MX")
    assert _udp(dns_server, "mixed.example", "MX").rcode() == dns.rcode.SERVFAIL
    assert _udp(dns_server, "mixed.example", "A").rcode() == dns.rcode.NOERROR
