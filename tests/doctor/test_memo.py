"""The seed memo's main.cf (tests/fixtures/memo) as a lint fixture: every problem it has
(pitfalls.md P01-P25) is reported at the line that has it."""

from __future__ import annotations

import pytest

from affix.doctor.findings import Severity

# (check, text on the reported main.cf line)
EXPECTED = [
    ("AFX-SYN-001", "//逆引き"),
    ("AFX-SYN-003", "russia.blackholes.us"),
    ("AFX-SYN-003", "hash:"),
    ("AFX-DNSBL-001", "relays.ordb.org"),
    ("AFX-DNSBL-001", "dynablock.wirehub.net"),
    ("AFX-DNSBL-001", "opm.blitzed.org"),
    ("AFX-DNSBL-001", "list.dsbl.org"),
    ("AFX-DNSBL-001", "cn-kr.blackholes.us"),
    ("AFX-DNSBL-001", "brazil.blackholes.us"),
    ("AFX-DNSBL-001", "russia.blackholes.us"),
    ("AFX-DNSBL-002", "spamcop.net"),
    ("AFX-DNSBL-003", "sbl.spamhaus.org"),
    ("AFX-DNSBL-004", "sbl.spamhaus.org"),
    ("AFX-RST-003", "check_client_access"),
    ("AFX-RST-010", "reject_unknown_client,"),
    ("AFX-RST-010", "reject_invalid_hostname"),
    ("AFX-RST-010", "reject_unknown_hostname"),
    ("AFX-RST-010", "reject_non_fqdn_hostname"),
    ("AFX-RST-011", "reject_unknown_client,"),
    ("AFX-RST-013", "check_helo_access"),
    ("AFX-RST-020", "hash:"),
    ("AFX-RST-021", "reject_non_fqdn_sender"),
    ("AFX-RST-022", "permit"),
    ("AFX-SIZE-003", "mailbox_size_limit"),
    ("AFX-SIZE-004", "message_size_limit"),
]


@pytest.fixture
def memo_findings(lab):
    path = lab.memo()
    return path.read_text().splitlines(), lab.lint()


@pytest.mark.parametrize("check, text", EXPECTED)
def test_memo_problem_reported_on_its_line(memo_findings, check, text):
    lines, findings = memo_findings
    on_line = [f for f in findings if f.check == check and f.where.line
               and f.where.file.endswith("main.cf") and text in lines[f.where.line - 1]]
    assert on_line, f"{check} not reported on a line containing {text!r}"


def test_memo_each_dead_zone_reported_once(memo_findings):
    _lines, findings = memo_findings
    assert len([f for f in findings if f.check == "AFX-DNSBL-001"]) == 7


def test_memo_both_trailing_permits_reported(memo_findings):
    _lines, findings = memo_findings
    assert len([f for f in findings if f.check == "AFX-RST-022"]) == 2


def test_memo_header_checks_deleting_received_reported_in_table(lab, memo_findings):
    _lines, findings = memo_findings
    hdr = {f.check: f for f in findings if f.check.startswith("AFX-HDR")}
    assert set(hdr) == {"AFX-HDR-001", "AFX-HDR-002"}
    assert (hdr["AFX-HDR-001"].where.file, hdr["AFX-HDR-001"].where.line) == (
        str(lab.dir / "header_checks"), 1)


def test_memo_ok_ips_helo_table_holds_only_addresses(memo_findings):
    _lines, findings = memo_findings
    [f] = [f for f in findings if f.check == "AFX-RST-013"]
    assert "only IP-address keys" in f.message and "check_client_access" in f.fix
    assert "ok-ips:2" in f.message


def test_memo_worst_severity_is_error(memo_findings):
    _lines, findings = memo_findings
    assert max(f.severity for f in findings) is Severity.ERROR


def test_memo_tables_never_compiled_are_reported(lab):
    lab.memo(compile=False)
    missing = [f for f in lab.lint() if f.check == "AFX-TBL-002"]
    assert {f.message.split(":", 2)[1] for f in missing} == {
        str(lab.dir / t) for t in ("reject_client", "reject_sender", "ok-ips")}


def test_memo_header_checks_compiled_needlessly(lab):
    lab.memo()
    lab.table("header_checks", "/^Received:/ IGNORE\n")  # affix map on a regexp file
    assert "AFX-TBL-004" in lab.ids()


def test_memo_postfix1_form(lab):
    lab.memo("main-postfix1.cf")
    findings = lab.lint()
    ids = {f.check for f in findings}
    assert {"AFX-RST-001", "AFX-RST-002", "AFX-CFG-001", "AFX-DNSBL-001"} <= ids
    [relay] = [f for f in findings if f.check == "AFX-RST-002"]
    assert relay.message.startswith("in parameter smtpd_relay_restrictions or "
                                    "smtpd_recipient_restrictions, specify at least one")


def test_memo_fixed_has_no_warnings_or_errors(lab):
    lab.memo("main-fixed.cf")
    bad = [str(f) for f in lab.lint() if f.severity > Severity.INFO]
    assert bad == []
