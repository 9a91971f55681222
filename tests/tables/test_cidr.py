"""cidr: tables (tables.md §6)."""

from __future__ import annotations

from affix.tables import open_table


def cidr(tmp_path, body: str):
    path = tmp_path / "clients.cidr"
    path.write_text(body)
    return open_table(f"cidr:{path}"), path


def test_ipv4_networks_exact_addresses_first_match(tmp_path):
    t, _ = cidr(tmp_path, "10.0.0.1 ONE\n10.0.0.0/8 NET\n0.0.0.0/0 ANY\n")
    assert not t.fixed
    assert t.lookup("10.0.0.1") == "ONE"
    assert t.lookup("10.9.9.9") == "NET"
    assert t.lookup("8.8.8.8") == "ANY"
    assert t.lookup("2001:db8::1") is None


def test_ipv6_compressed_or_not_and_brackets(tmp_path):
    t, _ = cidr(tmp_path, "2001:db8::/32 V6\n[2001:db9::1] ONE\n::/0 ANY6\n")
    assert t.lookup("2001:DB8:0:0::5") == "V6"
    assert t.lookup("2001:0db9:0000::1") == "ONE"
    assert t.lookup("::1") == "ANY6"
    assert t.lookup("1.2.3.4") is None


def test_host_bits_set_warns_with_suggestion_and_skips(tmp_path):
    t, path = cidr(tmp_path, "192.168.1.0/16 BAD\n192.168.0.0/16 NET\n")
    assert t.warnings == (
        f'cidr map {path}, line 1: non-null host address bits in "192.168.1.0/16", '
        'perhaps you should use "192.168.0.0/16" instead: skipping this rule',)
    assert t.lookup("192.168.1.5") == "NET"


def test_bad_patterns_are_reported_by_line(tmp_path):
    t, path = cidr(tmp_path, "300.1.1.1 X\n1.2.3.4/33 Y\n1.2.3.4\n010.1.1.1 Z\n")
    assert t.warnings == (
        f'cidr map {path}, line 1: bad address pattern: "300.1.1.1": skipping this rule',
        f'cidr map {path}, line 2: bad mask length in "1.2.3.4/33": skipping this rule',
        f"cidr map {path}, line 3: no lookup result: skipping this rule",
        f'cidr map {path}, line 4: bad address pattern: "010.1.1.1": skipping this rule',
    )
    assert t.lookup("1.2.3.4") is None


def test_negation_stays_within_the_address_family(tmp_path):
    t, _ = cidr(tmp_path, "!10.0.0.0/8 NOT10\n")
    assert t.lookup("8.8.8.8") == "NOT10"
    assert t.lookup("10.1.1.1") is None
    assert t.lookup("2001:db8::1") is None


def test_if_blocks(tmp_path):
    t, _ = cidr(tmp_path, "if 172.16.0.0/12\n172.16.1.1 IN\nendif\n0.0.0.0/0 OUT\n")
    assert t.lookup("172.16.1.1") == "IN"
    assert t.lookup("172.17.0.1") == "OUT"


def test_key_that_is_not_an_address_matches_nothing(tmp_path):
    t, _ = cidr(tmp_path, "0.0.0.0/0 ANY\n")
    assert t.lookup("[10.0.0.1]") is None
    assert t.lookup("mail.example.com") is None
