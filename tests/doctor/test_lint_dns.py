"""`affix lint --dns`: each DNSBL zone's RFC 5782 test points, queried through affix's
Resolver (the real DNS fixture)."""

from __future__ import annotations

import json


def _zones(lab, dns, *zones):  # noqa: ANN001
    rbl = ", ".join(f"reject_rbl_client {z}" for z in zones)
    lab.main({"affix_dns_servers": dns.main_cf_line().split("=", 1)[1].strip(),
              "affix_dns_timeout": "1s", "smtpd_client_restrictions": rbl})


def test_zone_listing_127_0_0_1_lists_everything(lab, dns_server):
    dns_server.add("2.0.0.127.all.example", "A", "127.0.0.2")
    dns_server.add("1.0.0.127.all.example", "A", "127.0.0.2")
    _zones(lab, dns_server, "all.example")
    findings = [f for f in lab.lint(dns=True) if f.check.startswith("AFX-DNSBL-01")]
    assert [f.check for f in findings] == ["AFX-DNSBL-010"]
    assert "all.example lists 127.0.0.1" in findings[0].message


def test_zone_without_127_0_0_2_is_dead(lab, dns_server):
    _zones(lab, dns_server, "dead.example")
    assert "AFX-DNSBL-011" in lab.ids(dns=True)


def test_zone_that_times_out_does_not_answer(lab, dns_server):
    dns_server.timeout("2.0.0.127.slow.example")
    _zones(lab, dns_server, "slow.example")
    assert "AFX-DNSBL-012" in lab.ids(dns=True)


def test_working_zone_is_quiet_and_queried(lab, dns_server):
    dns_server.add("2.0.0.127.good.example", "A", "127.0.0.2")
    _zones(lab, dns_server, "good.example")
    assert not {i for i in lab.ids(dns=True) if i.startswith("AFX-DNSBL")}
    assert dns_server.count("2.0.0.127.good.example") >= 1
    assert dns_server.count("1.0.0.127.good.example") >= 1


def test_error_code_filtered_out_by_reply_filter_is_not_listing_everything(lab, dns_server):
    dns_server.add("2.0.0.127.zen.example", "A", "127.0.0.2")
    dns_server.add("1.0.0.127.zen.example", "A", "127.255.255.254")  # public-resolver code
    _zones(lab, dns_server, "zen.example=127.0.0.[2..11]")
    assert "AFX-DNSBL-010" not in lab.ids(dns=True)


def test_without_dns_flag_no_queries(lab, dns_server):
    _zones(lab, dns_server, "dead.example")
    assert "AFX-DNSBL-011" not in lab.ids()
    assert dns_server.count("2.0.0.127.dead.example") == 0


def test_cli_dns_flag(affix, lab, dns_server):
    _zones(lab, dns_server, "dead.example")
    r = affix("-c", str(lab.dir), "lint", "--dns", "--format", "json")
    assert r.returncode == 1
    assert "AFX-DNSBL-011" in {f["check"] for f in json.loads(r.stdout)["findings"]}
