"""Lint reads master.cf through the foundation's parser and runs the per-service checks on each
smtpd service's effective configuration (main.cf + its -o overrides); findings that come from
master.cf name master.cf:LINE of the override."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import pytest

from affix.doctor.findings import Severity
from affix.doctor.registry import SEVERITY
from fixtures.files import RECOMMENDED

SMTP = "smtp inet n - n - - smtpd\n"


def submission(*overrides: str) -> str:
    return SMTP + "submission inet n - n - - smtpd\n" + "".join(
        f"  -o {o}\n" for o in overrides)


@dataclass(frozen=True)
class MasterCase:
    check: str
    bad: str  # master.cf
    good: str
    main: dict[str, str | None] | None = None  # main.cf changes for both


NO_AUTH_ONLY = {"smtpd_tls_auth_only": None}
MASTER_CASES = [
    MasterCase("AFX-TLS-001", submission("smtpd_sasl_auth_enable=yes"),
               submission("smtpd_sasl_auth_enable=yes", "smtpd_tls_security_level=encrypt"),
               NO_AUTH_ONLY),
    MasterCase("AFX-TLS-001", submission("smtpd_tls_auth_only=no",
                                         "smtpd_sasl_auth_enable=yes"),
               submission("smtpd_sasl_auth_enable=yes")),
    MasterCase("AFX-RST-002", submission("smtpd_relay_restrictions=",
                                         "smtpd_recipient_restrictions=permit_mynetworks"),
               submission("smtpd_relay_restrictions=permit_mynetworks,reject")),
    MasterCase("AFX-RST-005",
               submission("smtpd_relay_restrictions=permit,reject_unauth_destination"),
               submission("smtpd_relay_restrictions=reject_unauth_destination,permit")),
    MasterCase("AFX-RST-030",
               submission("smtpd_client_restrictions=permit_mynetworks,reject_unknwon_client"),
               submission("smtpd_client_restrictions=permit_mynetworks,reject_unknown_client")),
    MasterCase("AFX-MCF-001", SMTP + "submission inet n - n - smtpd\n",
               SMTP + "submission inet n - n - - smtpd\n"),
    MasterCase("AFX-MCF-002", SMTP + "maildrop unix - n n - - pipe\n"
               "  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}\n",
               SMTP + "local unix - n n - - local\n"),
    MasterCase("AFX-MCF-003", SMTP.replace("smtpd", "postscreen"), SMTP),
    MasterCase("AFX-MCF-004", submission("smtpd_tls_securty_level=encrypt"),
               submission("smtpd_tls_security_level=encrypt")),
    MasterCase("AFX-MCF-005", submission("smtpd_sasl_auth_enable=maybe"),
               submission("smtpd_sasl_auth_enable=yes")),
    MasterCase("AFX-MCF-007", submission("smtpd_tls_wrappermode=yes",
                                         "smtpd_sasl_auth_enable=yes"),
               submission("smtpd_tls_security_level=encrypt", "smtpd_sasl_auth_enable=yes")),
    MasterCase("AFX-MCF-008", submission("milter_macro_daemon_name=ORIGINATING"),
               submission("syslog_name=postfix/submission")),
    MasterCase("AFX-MCF-009", submission("content_filter=amavis:[127.0.0.1]:10024"),
               submission("content_filter=")),
    MasterCase("AFX-MCF-010", submission("smtpd_client_restrictions=$mua_client_restrictions"),
               submission("smtpd_client_restrictions=$smtpd_helo_restrictions")),
    MasterCase("AFX-MCF-006",
               submission("smtpd_sasl_auth_enable=yes",
                          "smtpd_relay_restrictions=permit_mynetworks,reject_unauth_destination"),
               submission("smtpd_sasl_auth_enable=yes",
                          "smtpd_relay_restrictions=permit_sasl_authenticated,reject")),
]
IDS = [f"{c.check}-{i}" for i, c in enumerate(MASTER_CASES)]


def _lint(lab, case, master):  # noqa: ANN001
    lab.main(case.main)
    lab.master(master)
    return lab.lint()


@pytest.mark.parametrize("case", MASTER_CASES, ids=IDS)
def test_master_check_triggers_and_names_master_line(lab, case):
    findings = [f for f in _lint(lab, case, case.bad) if f.check == case.check]
    assert findings, f"{case.check} not reported"
    assert all(f.severity == SEVERITY[case.check] for f in findings)
    for f in findings:  # each points at a master.cf line that exists
        assert f.where.file == str(lab.dir / "master.cf") and f.where.line
        assert case.bad.splitlines()[f.where.line - 1].strip()


@pytest.mark.parametrize("case", MASTER_CASES, ids=IDS)
def test_master_check_quiet_on_close_good_config(lab, case):
    assert case.check not in {f.check for f in _lint(lab, case, case.good)}


def test_override_finding_names_the_line_of_its_own_o_option(lab):
    lab.main()
    lab.master(submission("syslog_name=postfix/submission",
                          "{ smtpd_client_restrictions = permit_mynetworks, bogus_check }",
                          "smtpd_tls_security_level=encrypt"))
    [f] = [f for f in lab.lint() if f.check == "AFX-RST-030"]
    assert str(f.where) == f"{lab.dir}/master.cf:4"
    assert '"bogus_check"' in f.message


def test_sasl_in_main_cf_reported_once_on_main_cf_line(lab):
    """Both services take SASL from main.cf: one finding, on main.cf, without a service."""
    lab.main({"smtpd_tls_auth_only": None, "smtpd_sasl_auth_enable": "yes"})
    lab.master(SMTP + "2525 inet n - n - - smtpd\n")
    [f] = [f for f in lab.lint() if f.check == "AFX-TLS-001"]
    assert f.where.file == str(lab.dir / "main.cf")
    assert not f.message.startswith("service ")


def test_submission_override_fixes_what_main_cf_would_get_wrong(lab):
    """main.cf turns SASL on without TLS; the only service overrides it: nothing to report."""
    lab.main({"smtpd_tls_auth_only": None, "smtpd_sasl_auth_enable": "yes"})
    lab.master("submission inet n - n - - smtpd\n  -o smtpd_tls_security_level=encrypt\n")
    assert "AFX-TLS-001" not in {f.check for f in lab.lint()}


def test_o_reference_to_main_cf_name_is_not_unknown(lab):
    """Debian's master.cf idiom: -o smtpd_client_restrictions=$mua_client_restrictions."""
    lab.main(extra="mua_client_restrictions = permit_sasl_authenticated, reject\n")
    lab.master(submission("smtpd_tls_security_level=encrypt",
                          "smtpd_client_restrictions=$mua_client_restrictions"))
    assert {f.check for f in lab.lint()} == set()


def test_broken_master_line_reported_and_the_rest_still_checked(lab):
    lab.main({"smtpd_tls_auth_only": None})
    lab.master("smtp inet n - n - - smtpd -o\n" + submission("smtpd_sasl_auth_enable=yes")
               .split("\n", 1)[1])
    findings = lab.lint()
    [broken] = [f for f in findings if f.check == "AFX-MCF-001"]
    assert broken.where.line == 1 and "-o needs an argument" in broken.message
    assert broken.severity is Severity.ERROR
    assert "AFX-TLS-001" in {f.check for f in findings}


def test_recommended_main_and_master_have_no_findings(lab):
    for name in ("main.cf", "master.cf"):
        shutil.copy(RECOMMENDED / name, lab.dir / name)
    assert lab.lint() == []


def test_an_undefined_reference_in_a_parameter_only_master_cf_uses_is_reported(lab):
    """As `affix check` reports it: mua_sender_restrictions is used through an -o value."""
    lab.main({"mua_sender_restrictions": "reject_non_fqdn_sender, $mua_typo"})
    lab.master(submission("smtpd_sender_restrictions=$mua_sender_restrictions"))
    [found] = [f for f in lab.lint() if f.check == "AFX-CFG-008"]
    assert "mua_sender_restrictions refers to $mua_typo" in found.message
