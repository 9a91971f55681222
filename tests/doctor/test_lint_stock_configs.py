"""No false alarms: lint on configurations that are right reports nothing above info. The
recommended config (docs/) and Debian's stock Postfix files as installed on this machine
(/etc/postfix/*.proto, /usr/share/postfix/main.cf.{debian,tls} plus what postinst sets)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from affix.delivery.aliases import build_alias_table
from affix.doctor.findings import Severity

DOCS = Path(__file__).resolve().parents[2] / "docs"
PROTO = Path("/etc/postfix")
DEBIAN = Path("/usr/share/postfix")
# What Debian's postinst adds to main.cf.debian + main.cf.tls for an "Internet Site".
POSTINST = """\
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination
myhostname = mx.example.org
alias_maps = hash:%DIR%/aliases
alias_database = hash:%DIR%/aliases
myorigin = %DIR%/mailname
mydestination = $myhostname, example.org, localhost.localdomain, localhost
relayhost =
mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
mailbox_size_limit = 0
recipient_delimiter = +
inet_interfaces = all
inet_protocols = all
"""


def _need(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"Postfix's Debian files are not installed: {', '.join(missing)}")


def _above_info(findings):  # noqa: ANN001
    return [str(f) for f in findings if f.severity > Severity.INFO]


def test_docs_recommended_config_has_no_findings(lab):
    shutil.copy(DOCS / "recommended-main.cf", lab.dir / "main.cf")
    shutil.copy(DOCS / "recommended-master.cf", lab.dir / "master.cf")
    assert lab.lint() == []


def test_stock_debian_proto_files_give_only_info(lab):
    _need(PROTO / "main.cf.proto", PROTO / "master.cf.proto")
    shutil.copy(PROTO / "main.cf.proto", lab.dir / "main.cf")
    shutil.copy(PROTO / "master.cf.proto", lab.dir / "master.cf")
    findings = lab.lint()
    assert _above_info(findings) == []
    master = (lab.dir / "master.cf").read_text().splitlines()
    skipped = [f for f in findings if f.check == "AFX-MCF-002"]
    assert skipped and all(master[f.where.line - 1].split()[1:2] == ["unix"] and
                           master[f.where.line - 1].split()[7] == "pipe" for f in skipped)
    unused = {f.message.split(":")[0] for f in findings if f.check == "AFX-CFG-006"}
    assert {"command_directory", "debugger_command"} <= unused


def test_debian_installed_main_cf_gives_only_info(lab):
    _need(DEBIAN / "main.cf.debian", DEBIAN / "main.cf.tls", PROTO / "master.cf.proto")
    text = (DEBIAN / "main.cf.debian").read_text() + (DEBIAN / "main.cf.tls").read_text()
    (lab.dir / "main.cf").write_text(text + lab.sub(POSTINST))
    (lab.dir / "mailname").write_text("example.org\n")  # postinst writes /etc/mailname
    shutil.copy(PROTO / "master.cf.proto", lab.dir / "master.cf")
    (lab.dir / "aliases").write_text("# See man 5 aliases for format\npostmaster:    root\n")
    [unbuilt] = _above_info(lab.lint())  # Postfix's aliases.db is no use to affix
    assert "[AFX-TBL-002]" in unbuilt and 'run "affix newaliases"' in unbuilt
    build_alias_table(f"hash:{lab.dir}/aliases")
    assert _above_info(lab.lint()) == []


def test_malformed_alias_line_reported_in_alias_terms(lab):
    lab.main({"alias_maps": "hash:%DIR%/aliases", "alias_database": "hash:%DIR%/aliases"})
    (lab.dir / "aliases").write_text("postmaster: root\nwebmaster root\n")
    [f] = [f for f in lab.lint() if f.check == "AFX-TBL-008"]
    assert (f.where.file, f.where.line) == (str(lab.dir / "aliases"), 2)
    assert "missing colon" in f.message


def test_debian_submission_examples_uncommented(lab):
    """Debian's commented submission and submissions services, switched on: only the
    implicit-TLS service is a problem for affix (it does not implement wrapper mode)."""
    _need(DEBIAN / "main.cf.debian", DEBIAN / "main.cf.tls", PROTO / "master.cf.proto")
    text = (DEBIAN / "main.cf.debian").read_text() + (DEBIAN / "main.cf.tls").read_text()
    (lab.dir / "main.cf").write_text(text + lab.sub(POSTINST))
    (lab.dir / "mailname").write_text("example.org\n")
    (lab.dir / "aliases").write_text("postmaster: root\n")
    build_alias_table(f"hash:{lab.dir}/aliases")
    master = (PROTO / "master.cf.proto").read_text().splitlines()
    start = next(i for i, line in enumerate(master) if line.startswith("#submission "))
    end = next(i for i, line in enumerate(master) if line.startswith("#628 "))
    for i in range(start, end):
        if re.match(r"#(submissions? |  -o )", master[i]):
            master[i] = master[i][1:]
    (lab.dir / "master.cf").write_text("\n".join(master) + "\n")
    findings = lab.lint()
    [wrapper] = _above_info(findings)
    assert "[AFX-MCF-007] service submissions: smtpd_tls_wrappermode = yes" in wrapper
    assert {f.check for f in findings if f.check.startswith("AFX-MCF-00")} >= {
        "AFX-MCF-002", "AFX-MCF-007", "AFX-MCF-008"}
