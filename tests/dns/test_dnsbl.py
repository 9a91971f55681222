"""DNSBL / RHSBL lookups (restrictions.md §6) against the DNS fixture; the filter parser."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from affix.dns.dnsbl import ip_query_name, parse_rbl_spec, rbl_lookup, rhs_domain
from affix.dns.resolver import Resolver


@pytest.fixture
def resolver(dns_server):
    return Resolver([dns_server.address], timeout=0.3)


def _rbl(resolver, spec, what, kind="ip"):
    return asyncio.run(rbl_lookup(resolver, parse_rbl_spec(spec), what, kind))


# --- lookups ----------------------------------------------------------------------------------
def test_dnsbl_listed_ip_with_txt_reason(dns_server, resolver):
    dns_server.add("7.2.0.192.bl.example", "A", "127.0.0.2")
    dns_server.add("7.2.0.192.bl.example", "TXT", "listed: see https://bl.example/192.0.2.7")
    result = _rbl(resolver, "bl.example", "192.0.2.7")
    assert result.listed and result.query == "7.2.0.192.bl.example"
    assert result.addresses == ("127.0.0.2",)
    assert result.txt == "listed: see https://bl.example/192.0.2.7"


def test_dnsbl_not_listed_nxdomain_skips_txt(dns_server, resolver):
    result = _rbl(resolver, "bl.example", "192.0.2.7")
    assert not result.listed and result.error is None and result.txt == ""
    assert dns_server.queries == [("7.2.0.192.bl.example", "A")]


def test_dnsbl_listed_without_txt_has_empty_reason(dns_server, resolver):
    dns_server.add("7.2.0.192.bl.example", "A", "127.0.0.2")
    result = _rbl(resolver, "bl.example", "192.0.2.7")
    assert result.listed and result.txt == ""


def test_dnsbl_several_txt_records_joined_and_capped(dns_server, resolver):
    dns_server.add("7.2.0.192.bl.example", "A", "127.0.0.2")
    dns_server.add("7.2.0.192.bl.example", "TXT", "first")
    dns_server.add("7.2.0.192.bl.example", "TXT", "second")
    assert _rbl(resolver, "bl.example", "192.0.2.7").txt == "first / second"
    dns_server.add("8.2.0.192.bl.example", "A", "127.0.0.2")
    for i in range(5):
        dns_server.add("8.2.0.192.bl.example", "TXT", str(i) * 200)
    assert len(_rbl(resolver, "bl.example", "192.0.2.8").txt) == 500


def test_dnsbl_filter_match(dns_server, resolver):
    dns_server.add("7.2.0.192.zen.example", "A", "127.0.0.4")
    assert _rbl(resolver, "zen.example=127.0.0.[2..11]", "192.0.2.7").listed


def test_dnsbl_filter_excludes_spamhaus_error_code(dns_server, resolver):
    # Spamhaus answers 127.255.255.254 to queries through public resolvers (pitfalls.md P05).
    dns_server.add("7.2.0.192.zen.example", "A", "127.255.255.254")
    assert not _rbl(resolver, "zen.example=127.0.0.[2..11]", "192.0.2.7").listed
    assert _rbl(resolver, "zen.example", "192.0.2.7").listed  # no filter: any A record lists
    assert ("7.2.0.192.zen.example", "TXT") in dns_server.queries


def test_dnsbl_filter_one_of_several_records_matches(dns_server, resolver):
    dns_server.add("7.2.0.192.zen.example", "A", "127.255.255.254")
    dns_server.add("7.2.0.192.zen.example", "A", "127.0.0.10")
    result = _rbl(resolver, "zen.example=127.0.0.[2..11]", "192.0.2.7")
    assert result.listed and result.addresses == ("127.0.0.10",)


def test_dnsbl_tempfail_returned_as_error(dns_server, resolver):
    dns_server.servfail("7.2.0.192.bl.example")
    result = _rbl(resolver, "bl.example", "192.0.2.7")
    assert not result.listed and result.query == "7.2.0.192.bl.example"
    assert result.error == ("Host or domain name not found. Name service error for "
                            "name=7.2.0.192.bl.example type=A: Host not found, try again")


def test_dnsbl_timeout_returned_as_error(dns_server, resolver):
    dns_server.timeout("7.2.0.192.bl.example")
    assert _rbl(resolver, "bl.example", "192.0.2.7").error is not None


def test_dnsbl_ipv6_client_queries_nibbles_with_a_type(dns_server, resolver):
    name = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example"
    dns_server.add(name, "A", "127.0.0.2")
    result = _rbl(resolver, "bl.example", "2001:db8::1")
    assert result.listed and result.query == name
    assert dns_server.queries[0] == (name, "A")


def test_dnsbl_answers_cached_negative_too(dns_server, resolver):
    async def twice():
        spec = parse_rbl_spec("bl.example")
        await rbl_lookup(resolver, spec, "192.0.2.7", "ip")
        await rbl_lookup(resolver, spec, "192.0.2.7", "ip")

    asyncio.run(twice())
    assert dns_server.count("7.2.0.192.bl.example", "A") == 1


def test_rhsbl_sender_domain_after_last_at(dns_server, resolver):
    dns_server.add("spam.example.dbl.example", "A", "127.0.1.2")
    result = _rbl(resolver, "dbl.example", "odd@user@spam.example", "domain")
    assert result.listed and result.query == "spam.example.dbl.example"


def test_rhsbl_queries_only_the_exact_name(dns_server, resolver):
    dns_server.add("example.dbl.example", "A", "127.0.1.2")
    assert not _rbl(resolver, "dbl.example", "mail.example", "domain").listed
    assert [q for q, _ in dns_server.queries] == ["mail.example.dbl.example"]


def test_rhsbl_non_ascii_domain_as_a_labels(dns_server, resolver):
    dns_server.add("xn--bcher-kva.example.dbl.example", "A", "127.0.1.2")
    assert _rbl(resolver, "dbl.example", "info@bücher.example", "domain").listed


@pytest.mark.parametrize("what", ["user@", "user@[192.0.2.1]", "host.123",
                                  "bad_name!.example", "192.0.2.1", ""])
def test_rhsbl_skipped_names_are_not_queried(dns_server, resolver, what):
    result = _rbl(resolver, "dbl.example", what, "domain")
    assert not result.listed and result.query == ""
    assert dns_server.queries == []


def test_rhsbl_bare_name_is_the_domain():
    assert rhs_domain("mail.example.org") == "mail.example.org"
    assert rhs_domain("a@b@mail.example.org") == "mail.example.org"


def test_ip_query_name_forms():
    assert ip_query_name("192.0.2.7", "z.example") == "7.2.0.192.z.example"
    assert ip_query_name("::ffff:192.0.2.7", "z.example") == "7.2.0.192.z.example"
    assert ip_query_name("2001:db8::1", "z") == (
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.z")


# --- the reply filter parser -------------------------------------------------------------------
def test_filter_forms():
    spec = parse_rbl_spec("zen.spamhaus.org=127.0.0.[2..11]")
    assert spec.zone == "zen.spamhaus.org" and spec.text == "zen.spamhaus.org=127.0.0.[2..11]"
    assert spec.matches("127.0.0.2") and spec.matches("127.0.0.11")
    assert not spec.matches("127.0.0.1") and not spec.matches("127.255.255.254")
    spec = parse_rbl_spec("x.example=127.0.[0;1].[2..4;9]")
    assert spec.matches("127.0.1.9") and spec.matches("127.0.0.3")
    assert not spec.matches("127.0.2.3") and not spec.matches("127.0.0.5")
    assert parse_rbl_spec("x.example=[127.0.0.2]").matches("127.0.0.2")
    assert parse_rbl_spec("x.example").filter is None


@pytest.mark.parametrize("pattern", ["", "127.0.0", "127.0.0.2.5", "127.0.0.256", "127.0.0.[2..",
                                     "127.0.0.[5..2]", "127.0.[0.1].2", "127.0.0.x", "127.0.0.[]",
                                     "127.0.0.[2;]", "127.0.0.3[6..9]", "127..0.2", "127.0.0.-1"])
def test_filter_invalid_is_rbl_reply_error(pattern):
    with pytest.raises(ValueError, match=r"^RBL reply error: "):
        parse_rbl_spec("bl.example=" + pattern)


_octet = st.integers(0, 255)
_member = st.one_of(_octet.map(str), st.tuples(_octet, _octet).map(
    lambda t: f"{min(t)}..{max(t)}"))
_field = st.one_of(_octet.map(str), st.lists(_member, min_size=1, max_size=4).map(
    lambda ms: "[" + ";".join(ms) + "]"))


def _field_matches(field: str, value: int) -> bool:
    for member in field.strip("[]").split(";"):
        lo, _, hi = member.partition("..")
        if int(lo) <= value <= int(hi or lo):
            return True
    return False


@given(st.lists(_field, min_size=4, max_size=4), st.lists(_octet, min_size=4, max_size=4))
def test_filter_matches_like_a_reference_model(fields, octets):
    spec = parse_rbl_spec("bl.example=" + ".".join(fields))
    address = ".".join(map(str, octets))
    expected = all(_field_matches(f, o) for f, o in zip(fields, octets, strict=True))
    assert spec.matches(address) is expected


@given(st.text(max_size=30))
def test_filter_parser_never_crashes_unexpectedly(pattern):
    try:
        spec = parse_rbl_spec("bl.example=" + pattern)
    except ValueError as e:
        assert str(e).startswith("RBL reply error: ")
    else:
        assert spec.filter is not None and len(spec.filter) == 4
