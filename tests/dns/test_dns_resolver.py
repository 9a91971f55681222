"""affix.dns.resolver against the real DNS fixture: statuses, reasons, cache, timeouts."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affix.config.errors import ConfigError
from affix.config.snapshot import load_config
from affix.dns.names import valid_hostaddr
from affix.dns.resolver import DnsCache, DnsStatus, Resolver, parse_servers


def _query(resolver, name, rdtype):
    return asyncio.run(resolver.query(name, rdtype))


@pytest.fixture
def resolver(dns_server):
    return Resolver([dns_server.address], timeout=0.3)


def test_resolver_a_record_ok(dns_server, resolver):
    dns_server.add("mail.example.org", "A", "192.0.2.10")
    dns_server.add("mail.example.org", "A", "192.0.2.11")
    answer = _query(resolver, "mail.example.org", "A")
    assert answer.status is DnsStatus.OK
    assert sorted(answer.records) == ["192.0.2.10", "192.0.2.11"]


def test_resolver_aaaa_record_is_compressed_text(dns_server, resolver):
    dns_server.add("v6.example", "AAAA", "2001:0db8:0000::0001")
    assert _query(resolver, "v6.example", "AAAA").records == ("2001:db8::1",)


def test_resolver_mx_is_pref_and_lowercase_host(dns_server, resolver):
    dns_server.add("Example.ORG", "MX", "20 MX2.Example.ORG.")
    assert _query(resolver, "example.org", "MX").records == ("20 mx2.example.org",)


def test_resolver_null_mx_record_text(dns_server, resolver):
    dns_server.add("nomail.example", "MX", "0 .")
    answer = _query(resolver, "nomail.example", "MX")
    assert answer.status is DnsStatus.OK and answer.records == ("0 .",)


def test_resolver_txt_strings_joined(dns_server, resolver):
    dns_server.add("t.example", "TXT", '"part one, " "part two"')
    assert _query(resolver, "t.example", "TXT").records == ("part one, part two",)


def test_resolver_ptr_without_trailing_dot(dns_server, resolver):
    dns_server.add("10.2.0.192.in-addr.arpa", "PTR", "Mail.Example.ORG.")
    assert _query(resolver, "10.2.0.192.in-addr.arpa", "PTR").records == ("Mail.Example.ORG",)


def test_resolver_nxdomain_is_notfound_with_postfix_reason(resolver):
    answer = _query(resolver, "nx.example", "A")
    assert answer.status is DnsStatus.NOTFOUND and answer.nxdomain
    assert answer.reason == ("Host or domain name not found. Name service error for "
                             "name=nx.example type=A: Host not found")


def test_resolver_nodata_is_notfound_not_nxdomain(dns_server, resolver):
    dns_server.add("host.example", "A", "192.0.2.1")
    answer = _query(resolver, "host.example", "MX")
    assert answer.status is DnsStatus.NOTFOUND and not answer.nxdomain
    assert answer.reason.endswith("type=MX: Host found but no data record of requested type")


def test_resolver_servfail_is_tempfail(dns_server, resolver):
    dns_server.servfail("broken.example")
    answer = _query(resolver, "broken.example", "A")
    assert answer.status is DnsStatus.TEMPFAIL
    assert answer.reason == ("Host or domain name not found. Name service error for "
                             "name=broken.example type=A: Host not found, try again")


def test_resolver_refused_is_tempfail(dns_server, resolver):
    dns_server.refused("refused.example")
    assert _query(resolver, "refused.example", "A").status is DnsStatus.TEMPFAIL


def test_resolver_timeout_is_tempfail_after_at_most_one_retry(dns_server, resolver):
    dns_server.timeout("slow.example")
    assert _query(resolver, "slow.example", "A").status is DnsStatus.TEMPFAIL
    assert 1 <= dns_server.count("slow.example", "A") <= 2


def test_resolver_unreachable_server_is_tempfail(dns_server):
    # A port on loopback where nothing listens: ICMP port unreachable or silence.
    resolver = Resolver([("127.0.0.1", 9)], timeout=0.3)
    assert _query(resolver, "any.example", "A").status is DnsStatus.TEMPFAIL


def test_resolver_truncated_udp_answer_retried_over_tcp(dns_server, resolver):
    for i in range(30):
        dns_server.add("big.example", "TXT", f"record {i:02d} " + "y" * 30)
    answer = _query(resolver, "big.example", "TXT")
    assert answer.status is DnsStatus.OK and len(answer.records) == 30
    assert dns_server.tcp_queries == [("big.example", "TXT")]


def test_resolver_follows_cname(dns_server, resolver):
    dns_server.add("www.example", "CNAME", "web.example.")
    dns_server.add("web.example", "A", "192.0.2.80")
    assert _query(resolver, "www.example", "A").records == ("192.0.2.80",)


def test_resolver_second_query_served_from_cache(dns_server, resolver):
    dns_server.add("cached.example", "A", "192.0.2.5")

    async def twice():
        return await resolver.query("cached.example", "A"), \
            await resolver.query("CACHED.example.", "A")

    first, second = asyncio.run(twice())
    assert first == second
    assert dns_server.count("cached.example", "A") == 1


def test_resolver_negative_answer_cached(dns_server, resolver):
    async def twice():
        await resolver.query("nx.example", "A")
        await resolver.query("nx.example", "A")

    asyncio.run(twice())
    assert dns_server.count("nx.example", "A") == 1


def test_resolver_negative_answer_with_zero_soa_minimum_not_cached(dns_server, resolver):
    dns_server.negative_ttl = 0
    _query(resolver, "nx.example", "A")
    _query(resolver, "nx.example", "A")
    assert dns_server.count("nx.example", "A") == 2


def test_resolver_zero_ttl_answer_not_cached(dns_server, resolver):
    dns_server.add("volatile.example", "A", "192.0.2.9", ttl=0)
    _query(resolver, "volatile.example", "A")
    _query(resolver, "volatile.example", "A")
    assert dns_server.count("volatile.example", "A") == 2


def test_resolver_tempfail_not_cached(dns_server, resolver):
    dns_server.servfail("flaky.example")
    _query(resolver, "flaky.example", "A")
    dns_server.clear()
    dns_server.add("flaky.example", "A", "192.0.2.3")
    assert _query(resolver, "flaky.example", "A").status is DnsStatus.OK


def test_resolver_non_ascii_name_queried_as_a_labels(dns_server, resolver):
    dns_server.add("xn--bcher-kva.example", "A", "192.0.2.4")
    assert _query(resolver, "bücher.example", "A").records == ("192.0.2.4",)
    assert dns_server.queries == [("xn--bcher-kva.example", "A")]


@pytest.mark.parametrize("name", ["192.0.2.1", "bad..name", "-x.example", "a_b!c.example", ""])
def test_resolver_invalid_name_not_queried(dns_server, resolver, name):
    answer = _query(resolver, name, "A")
    assert answer.status is DnsStatus.NOTFOUND
    assert answer.reason == f"Name service error for {name}: invalid host or domain name"
    assert dns_server.queries == []


def test_resolver_malformed_mx_host_is_malformed(dns_server, resolver):
    dns_server.add("bad.example", "MX", "10 bad!host.example.")
    answer = _query(resolver, "bad.example", "MX")
    assert answer.status is DnsStatus.MALFORMED
    assert answer.reason == ("Name service error for name=bad.example type=MX: "
                             "Malformed or unexpected name server reply")
    assert answer.warnings == ("malformed domain name in resource data of MX record for "
                               "bad.example: bad!host.example",)


def test_resolver_malformed_mx_host_dropped_when_others_are_fine(dns_server, resolver):
    dns_server.add("mixed.example", "MX", "10 bad!host.example.")
    dns_server.add("mixed.example", "MX", "20 good.example.")
    assert _query(resolver, "mixed.example", "MX").records == ("20 good.example",)


def test_resolver_unknown_type_is_a_programming_error(resolver):
    with pytest.raises(ValueError):
        _query(resolver, "x.example", "NOSUCHTYPE")


def test_cache_is_bounded_lru():
    from affix.dns.resolver import DnsAnswer
    cache = DnsCache(size=2)
    for i in range(3):
        cache.put((f"n{i}", "A"), DnsAnswer(DnsStatus.OK, (str(i),)), ttl=60)
    assert len(cache) == 2
    assert cache.get(("n0", "A")) is None and cache.get(("n2", "A")) is not None


@pytest.mark.parametrize("text, expected", [
    ("192.0.2.53", ("192.0.2.53", 53)),
    ("192.0.2.53:5353", ("192.0.2.53", 5353)),
    ("[192.0.2.53]:5353", ("192.0.2.53", 5353)),
    ("[::1]:5353", ("::1", 5353)),
    ("[::1]", ("::1", 53)),
    ("2001:db8::53", ("2001:db8::53", 53)),
])
def test_parse_servers_forms(text, expected):
    assert parse_servers([text]) == [expected]


@pytest.mark.parametrize("text", ["dns.example", "1.2.3.4:0", "1.2.3.4:x", "[::1", "[::1]x",
                                  "1.2.3.4:99999"])
def test_parse_servers_rejects_bad_items(text):
    with pytest.raises(ValueError):
        parse_servers([text])


def test_resolver_from_config_uses_affix_dns_servers(tmp_path, dns_server):
    (tmp_path / "main.cf").write_text(dns_server.main_cf_line() + "\naffix_dns_timeout = 2s\n")
    resolver = Resolver.from_config(load_config(str(tmp_path)))
    assert resolver.servers == [dns_server.address] and resolver.timeout == 2
    dns_server.add("cfg.example", "A", "192.0.2.2")
    assert _query(resolver, "cfg.example", "A").records == ("192.0.2.2",)


def test_resolver_from_config_bad_server_is_config_error(tmp_path):
    (tmp_path / "main.cf").write_text("affix_dns_servers = not-an-address\n")
    with pytest.raises(ConfigError) as info:
        Resolver.from_config(load_config(str(tmp_path)))
    assert "main.cf:1:" in str(info.value) and "not-an-address" in str(info.value)


def test_query_stepped_outside_any_task_as_smtpd_runs_handlers(dns_server, resolver):
    """smtpd steps a verb handler eagerly from a protocol callback, where no asyncio Task is
    current, until the handler first waits (smtpd/eager.py). A lookup started there must
    still work (dnspython must not have to sniff the async library)."""
    from affix.smtpd import eager

    dns_server.add("eager.example", "A", "192.0.2.77")

    async def main():
        started = asyncio.get_running_loop().create_future()

        def callback():  # like data_received(): a plain loop callback
            assert asyncio.current_task() is None
            started.set_result(eager.start(resolver.query("eager.example", "A")))

        asyncio.get_running_loop().call_soon(callback)
        done, value = await started
        return value if done else await value

    answer = asyncio.run(main())
    assert answer.status is DnsStatus.OK and answer.records == ("192.0.2.77",)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.ip_addresses().map(str),
                 st.text(alphabet="0123456789.:abcdefx%z\u0663", max_size=20)))
def test_an_address_is_told_from_a_name_as_the_ipaddress_module_tells_it(text):
    # valid_hostaddr skips the parse for what cannot be an address: the same answers
    try:
        ipaddress.ip_address(text)
        expected = "%" not in text
    except ValueError:
        expected = False
    assert valid_hostaddr(text) == expected
