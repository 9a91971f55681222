"""Each lint check: one config that triggers it and one close to it that does not.

The base is the recommended config (tests/fixtures/recommended/main.cf), which has no
findings at all; each case changes a few parameters and adds tables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

from affix.doctor.findings import Severity
from affix.doctor.registry import SEVERITY

CIDR_CLIENT = "permit_mynetworks, check_client_access cidr:%DIR%/clients.cidr"
HASH_CLIENT = "permit_mynetworks, check_client_access hash:%DIR%/clients"
ZEN = "zen.spamhaus.org=127.0.0.[2..11]"


@dataclass(frozen=True)
class Case:
    check: str
    bad: dict[str, str | None]
    good: dict[str, str | None]
    bad_tables: dict[str, str] = field(default_factory=dict)
    good_tables: dict[str, str] = field(default_factory=dict)
    extra: str = ""  # raw lines appended to the bad main.cf


CASES = [
    Case("AFX-SYN-001",
         {"smtpd_client_restrictions": "permit_mynetworks,\n"
          "    reject_unknown_reverse_client_hostname, //no reverse DNS"},
         {"smtpd_client_restrictions": "permit_mynetworks,\n"
          "    # no reverse DNS\n    reject_unknown_reverse_client_hostname"}),
    Case("AFX-SYN-002", {"myorigin": "$mydomain # the domain"}, {"myorigin": "$mydomain"}),
    Case("AFX-SYN-003",
         {"smtpd_sender_restrictions": "reject_non_fqdn_sender\n    "
          "reject_unknown_sender_domain,\n    permit_mynetworks"},
         {"smtpd_sender_restrictions": "reject_non_fqdn_sender,\n    "
          "reject_unknown_sender_domain,\n    permit_mynetworks"}),
    Case("AFX-SYN-004", {}, {}, extra="this line has no equals sign\n"),
    Case("AFX-SYN-005", {}, {}, extra="message_size_limit = 30000000\n"),
    Case("AFX-DNSBL-001", {"smtpd_client_restrictions": "reject_rbl_client relays.ordb.org"},
         {"smtpd_client_restrictions": "reject_rbl_client bl.spamcop.net"}),
    Case("AFX-DNSBL-001", {"smtpd_client_restrictions": "reject_rbl_client x.blackholes.us"},
         {"smtpd_client_restrictions": "reject_rbl_client blackholes.example"}),
    Case("AFX-DNSBL-002", {"smtpd_client_restrictions": "reject_rbl_client spamcop.net"},
         {"smtpd_client_restrictions": "reject_rbl_client bl.spamcop.net"}),
    Case("AFX-DNSBL-003", {"smtpd_client_restrictions": "reject_rbl_client zen.spamhaus.org"},
         {"smtpd_client_restrictions": f"reject_rbl_client {ZEN}"}),
    Case("AFX-DNSBL-004",
         {"smtpd_client_restrictions": "reject_rbl_client sbl.spamhaus.org=127.0.0.2"},
         {"smtpd_client_restrictions": f"reject_rbl_client {ZEN}"}),
    Case("AFX-DNSBL-005", {"affix_dns_servers": "8.8.8.8, 1.1.1.1"},
         {"affix_dns_servers": "127.0.0.1"}),
    Case("AFX-RST-001", {"smtpd_recipient_restrictions": "reject_maps_rbl",
                         "maps_rbl_domains": "bl.spamcop.net"},
         {"smtpd_recipient_restrictions": "reject_rbl_client bl.spamcop.net"}),
    Case("AFX-RST-002", {"smtpd_relay_restrictions": "",
                         "smtpd_recipient_restrictions": "permit_mynetworks"},
         {"smtpd_relay_restrictions": "",
          "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination"}),
    Case("AFX-RST-002", {"smtpd_relay_restrictions": "permit_mynetworks, warn_if_reject "
                         "reject_unauth_destination", "smtpd_recipient_restrictions": ""},
         {"smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
          "smtpd_recipient_restrictions": ""}),
    Case("AFX-RST-005", {"smtpd_relay_restrictions": "warn_if_reject reject_unauth_destination,"
                         " permit, reject_unauth_destination"},
         {"smtpd_relay_restrictions": "warn_if_reject reject_unauth_destination, "
          "reject_unauth_destination, permit"}),
    Case("AFX-RST-005", {"smtpd_relay_restrictions": "permit_mynetworks, permit, "
                         "reject_unauth_destination"},
         {"smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination, "
          "permit"}),
    Case("AFX-RST-003", {"smtpd_client_restrictions": f"reject_rbl_client {ZEN}, "
                         "check_client_access cidr:%DIR%/clients.cidr"},
         {"smtpd_client_restrictions": "check_client_access cidr:%DIR%/clients.cidr, "
          f"reject_rbl_client {ZEN}"},
         {"clients.cidr": "192.0.2.7 OK\n"}, {"clients.cidr": "192.0.2.7 OK\n"}),
    Case("AFX-RST-004", {"smtpd_client_restrictions": f"reject_rbl_client {ZEN}, "
                         "permit_sasl_authenticated"},
         {"smtpd_client_restrictions": f"permit_sasl_authenticated, reject_rbl_client {ZEN}"}),
    Case("AFX-RST-004", {"smtpd_sasl_auth_enable": "yes",
                         "smtpd_client_restrictions": f"reject_rbl_client {ZEN}"},
         {"smtpd_sasl_auth_enable": "yes",
          "smtpd_client_restrictions": f"permit_sasl_authenticated, reject_rbl_client {ZEN}"}),
    Case("AFX-RST-010", {"smtpd_helo_restrictions": "reject_invalid_hostname"},
         {"smtpd_helo_restrictions": "reject_invalid_helo_hostname"}),
    Case("AFX-RST-011", {"smtpd_client_restrictions": "reject_unknown_client_hostname"},
         {"smtpd_client_restrictions": "reject_unknown_reverse_client_hostname"}),
    Case("AFX-RST-012", {"unknown_client_reject_code": "550"},
         {"unknown_client_reject_code": "450"}),
    Case("AFX-RST-013", {"smtpd_helo_restrictions": "check_helo_access hash:%DIR%/helo"},
         {"smtpd_helo_restrictions": "check_helo_access hash:%DIR%/helo"},
         {"helo": "203.0.113.30 OK\n"}, {"helo": "mail.example.org OK\n"}),
    Case("AFX-RST-020", {"smtpd_sender_restrictions": "hash:%DIR%/senders"},
         {"smtpd_sender_restrictions": "check_sender_access hash:%DIR%/senders"},
         {"senders": "spam.example REJECT\n"}, {"senders": "spam.example REJECT\n"}),
    Case("AFX-RST-021", {"smtpd_sender_restrictions": "reject_unknown_sender_domain, "
                         "reject_non_fqdn_sender"},
         {"smtpd_sender_restrictions": "reject_non_fqdn_sender, "
          "reject_unknown_sender_domain"}),
    Case("AFX-RST-022", {"smtpd_helo_restrictions": "reject_invalid_helo_hostname, permit"},
         {"smtpd_helo_restrictions": "reject_invalid_helo_hostname"}),
    Case("AFX-RST-023", {"smtpd_helo_restrictions": "permit, reject_invalid_helo_hostname"},
         {"smtpd_helo_restrictions": "reject_invalid_helo_hostname, permit_mynetworks"}),
    Case("AFX-RST-024", {"smtpd_data_restrictions": "reject, reject_unauth_pipelining"},
         {"smtpd_data_restrictions": "reject_unauth_pipelining, reject"}),
    Case("AFX-RST-025", {"smtpd_relay_restrictions": "permit_mynetworks, check_relay_domains"},
         {"smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination"}),
    Case("AFX-RST-030", {"smtpd_helo_restrictions": "reject_invalid_helo_hostnam"},
         {"smtpd_helo_restrictions": "reject_invalid_helo_hostname"}),
    Case("AFX-RST-030", {"smtpd_client_restrictions": "check_client_access"},
         {"smtpd_client_restrictions": "check_client_access cidr:%DIR%/clients.cidr"},
         {}, {"clients.cidr": "192.0.2.7 OK\n"}),
    Case("AFX-TBL-001", {"smtpd_client_restrictions": CIDR_CLIENT},
         {"smtpd_client_restrictions": CIDR_CLIENT},
         {"clients.cidr": "192.168.10 REJECT\n"}, {"clients.cidr": "192.168.10.0/24 REJECT\n"}),
    Case("AFX-TBL-002", {"smtpd_client_restrictions": HASH_CLIENT},
         {"smtpd_client_restrictions": HASH_CLIENT},
         {"clients!": "192.0.2.7 REJECT\n"}, {"clients": "192.0.2.7 REJECT\n"}),
    Case("AFX-TBL-004", {"header_checks": "regexp:%DIR%/hc"}, {"header_checks": "regexp:%DIR%/hc"},
         {"hc": "/^X-Spam: yes/ REJECT\n"}, {"hc!": "/^X-Spam: yes/ REJECT\n"}),
    Case("AFX-TBL-005", {"smtpd_client_restrictions": HASH_CLIENT},
         {"smtpd_client_restrictions": HASH_CLIENT},
         {"clients": "192.168.0.0/24 REJECT\n"}, {"clients": "192.168.0 REJECT\n"}),
    Case("AFX-TBL-006", {"smtpd_client_restrictions": HASH_CLIENT},
         {"smtpd_client_restrictions": HASH_CLIENT},
         {"clients": "192.168 OK\n"}, {"clients": "192.168.1.5 OK\n192.168 REJECT\n"}),
    Case("AFX-TBL-006", {"smtpd_client_restrictions": HASH_CLIENT},
         {"smtpd_client_restrictions": HASH_CLIENT},
         {"clients": "com OK\n"}, {"clients": "mail.example.com OK\n"}),
    Case("AFX-TBL-006", {"smtpd_client_restrictions": CIDR_CLIENT},
         {"smtpd_client_restrictions": CIDR_CLIENT},
         {"clients.cidr": "10.0.0.0/8 OK\n"}, {"clients.cidr": "10.1.2.0/24 OK\n"}),
    Case("AFX-TBL-007", {"header_checks": "regexp:%DIR%/hc"}, {"header_checks": "regexp:%DIR%/hc"},
         {"hc!": "/^Subject: (unclosed/ REJECT\n"}, {"hc!": "/^Subject: spam/ REJECT\n"}),
    Case("AFX-TBL-008", {"smtpd_client_restrictions": HASH_CLIENT},
         {"smtpd_client_restrictions": HASH_CLIENT},
         {"clients": "192.0.2.7\n192.0.2.8 REJECT\n"}, {"clients": "192.0.2.8 REJECT\n"}),
    Case("AFX-TBL-009", {"smtpd_client_restrictions": "check_client_access cidr:%DIR%/none"},
         {"smtpd_client_restrictions": CIDR_CLIENT}, {}, {"clients.cidr": "192.0.2.7 OK\n"}),
    Case("AFX-SMTP-001", {"disable_vrfy_command": "no"}, {"disable_vrfy_command": "yes"}),
    Case("AFX-SMTP-002", {"smtpd_banner": "ESMTP ready"},
         {"smtpd_banner": "$myhostname ESMTP ready"}),
    Case("AFX-SMTP-003", {"smtpd_banner": "$myhostname ESMTP $mail_name $mail_version"},
         {"smtpd_banner": "$myhostname ESMTP $mail_name"}),
    Case("AFX-TLS-001", {"smtpd_sasl_auth_enable": "yes", "smtpd_tls_auth_only": "no"},
         {"smtpd_sasl_auth_enable": "yes", "smtpd_tls_auth_only": "yes"}),
    Case("AFX-SIZE-001", {"mailbox_size_limit": "1000000", "message_size_limit": "2000000"},
         {"mailbox_size_limit": "0", "message_size_limit": "2000000"}),
    Case("AFX-SIZE-002", {"mailbox_size_limit": "51200000", "message_size_limit": "0"},
         {"mailbox_size_limit": "51200000", "message_size_limit": "10240000"}),
    Case("AFX-SIZE-003", {"home_mailbox": None, "mailbox_size_limit": "20480000"},
         {"home_mailbox": "Maildir/", "mailbox_size_limit": "20480000"}),
    Case("AFX-SIZE-003", {"home_mailbox": None, "mail_spool_directory": "/var/mail",
                          "mailbox_size_limit": "20480000"},
         {"home_mailbox": None, "mail_spool_directory": "/var/mail/",  # a Maildir per user
          "mailbox_size_limit": "20480000"}),
    Case("AFX-SIZE-004", {"message_size_limit": "1024000"}, {"message_size_limit": "10240000"}),
    Case("AFX-HDR-001", {"header_checks": "regexp:%DIR%/hc"}, {"header_checks": "regexp:%DIR%/hc"},
         {"hc!": "/^Received:/ STRIP\n"},
         {"hc!": "/^Received: from \\[127\\.0\\.0\\.1\\]/ STRIP\n"}),
    Case("AFX-HDR-002", {"header_checks": "regexp:%DIR%/hc"}, {"header_checks": "regexp:%DIR%/hc"},
         {"hc!": "/^X-Mailer:/ IGNORE\n"}, {"hc!": "/^X-Mailer:/ STRIP\n"}),
    Case("AFX-CFG-001", {"compatibility_level": None}, {"compatibility_level": "3.7"}),
    Case("AFX-CFG-002", {"mynetworks": None, "mynetworks_style": "subnet"},
         {"mynetworks": None, "mynetworks_style": "host"}),
    Case("AFX-CFG-003", {"virtual_maps": "inline:{ a@example.com=b@example.com }"},
         {"virtual_alias_maps": "inline:{ a@example.com=b@example.com }"}),
    Case("AFX-CFG-004", {"smtpd_helo_required": "maybe"}, {"smtpd_helo_required": "yes"}),
    Case("AFX-CFG-005", {"smtpd_helo_restriction": "reject_invalid_helo_hostname"},
         {"smtpd_helo_restrictions": "reject_invalid_helo_hostname"}),
    Case("AFX-CFG-006", {"command_directory": "/usr/sbin"}, {}),
    Case("AFX-CFG-007", {"smtpd_milters": "inet:127.0.0.1:8891"}, {}),
    Case("AFX-CFG-008", {"mydestination": "$myhostnme, localhost"},
         {"mydestination": "$myhostname, localhost"}),
    Case("AFX-VIRT-001", {"virtual_mailbox_maps": "inline:{ a@v.example=v.example/a/ }",
                          "virtual_uid_maps": "static:5000", "virtual_gid_maps": "static:5000"},
         {"virtual_mailbox_maps": "inline:{ a@v.example=v.example/a/ }",
          "virtual_mailbox_base": "/var/mail/vhosts",
          "virtual_uid_maps": "static:5000", "virtual_gid_maps": "static:5000"}),
    Case("AFX-VIRT-002", {"virtual_mailbox_maps": "inline:{ a@v.example=v.example/a/ }",
                          "virtual_mailbox_base": "/var/mail/vhosts",
                          "virtual_uid_maps": "static:5000"},
         {"virtual_mailbox_maps": "inline:{ a@v.example=v.example/a/ }",
          "virtual_mailbox_base": "/var/mail/vhosts",
          "virtual_uid_maps": "static:5000", "virtual_gid_maps": "static:5000"}),
]


def _setup(lab, params, tables, extra=""):  # noqa: ANN001
    for name, text in tables.items():
        lab.table(name.rstrip("!"), text, compile=not name.endswith("!"))
    lab.main(params, extra)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.check}-{i}" for i, c in enumerate(CASES)])
def test_check_triggers_on_bad_config(lab, case):
    _setup(lab, case.bad, case.bad_tables, case.extra)
    findings = [f for f in lab.lint() if f.check == case.check]
    assert findings, f"{case.check} not reported"
    assert all(f.severity == SEVERITY[case.check] for f in findings)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.check}-{i}" for i, c in enumerate(CASES)])
def test_check_quiet_on_close_good_config(lab, case):
    _setup(lab, case.good, case.good_tables)
    assert case.check not in lab.ids()


def test_every_registered_check_has_a_case():
    from .test_lint_mastercf import MASTER_CASES

    tested = {c.check for c in CASES} | {"AFX-TBL-003", "AFX-DNSBL-010", "AFX-DNSBL-011",
                                         "AFX-DNSBL-012"}  # below / test_lint_dns.py
    tested |= {c.check for c in MASTER_CASES}
    assert set(SEVERITY) <= tested, sorted(set(SEVERITY) - tested)


def test_stale_index_reported(lab):
    path = lab.table("clients", "192.0.2.7 REJECT\n")
    lab.main({"smtpd_client_restrictions": HASH_CLIENT})
    assert "AFX-TBL-003" not in lab.ids()
    st = os.stat(path + ".lmdb")
    os.utime(path, (st.st_atime + 200, st.st_mtime + 200))
    assert "AFX-TBL-003" in lab.ids()


def test_recommended_config_has_no_findings(lab):
    lab.main()
    assert lab.lint() == []


def test_slash_comment_at_column_one_is_fatal_but_lint_goes_on(lab):
    lab.main({"message_size_limit": "1024000"}, extra="//a comment\n")
    findings = lab.lint()
    syn = [f for f in findings if f.check == "AFX-SYN-001"]
    assert syn and syn[0].where.line == len((lab.dir / "main.cf").read_text().splitlines())
    assert "missing '=' after attribute name" in syn[0].message
    assert "AFX-SIZE-004" in {f.check for f in findings}  # the rest was still checked


def test_slash_comment_names_the_token_and_its_line(lab):
    lab.main({"smtpd_client_restrictions": "permit_mynetworks,\n"
              "    reject_unknown_reverse_client_hostname, //no rDNS"})
    text = (lab.dir / "main.cf").read_text().splitlines()
    [f] = [f for f in lab.lint() if f.check == "AFX-SYN-001"]
    assert "//no" in text[f.where.line - 1]
    assert 'unknown restriction "//no"' in f.why
    assert f.severity is Severity.ERROR


def test_partial_network_finding_points_at_table_line(lab):
    lab.table("clients.cidr", "10.0.0.0/8 REJECT\n192.168.10 REJECT\n", compile=False)
    lab.main({"smtpd_client_restrictions": CIDR_CLIENT})
    [f] = [f for f in lab.lint() if f.check == "AFX-TBL-001"]
    assert (f.where.file, f.where.line) == (str(lab.dir / "clients.cidr"), 2)
    assert "192.168.10.0/24" in f.fix
    assert "AFX-TBL-007" not in lab.ids()  # the same line is not reported twice
