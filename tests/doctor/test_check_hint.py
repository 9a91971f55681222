"""`affix check` prints one line when lint finds errors or warnings in a configuration that
passes (they do not stop the server, so check still exits 0); nothing for a clean one."""

from __future__ import annotations

HINT = 'from affix lint (they do not stop the server); run "affix lint"'


def test_check_passes_with_lint_hint(affix, lab):
    lab.main({"smtpd_client_restrictions": "reject_rbl_client relays.ordb.org",
              "compatibility_level": None})
    r = affix("-c", str(lab.dir), "check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == f"note: 1 error, 1 warning {HINT}"


def test_check_clean_config_has_no_hint(affix, lab):
    lab.main()
    r = affix("-c", str(lab.dir), "check")
    assert r.returncode == 0 and HINT not in r.stdout


def test_check_fatal_config_fails_without_hint(affix, lab):
    lab.main({"smtpd_helo_required": "maybe"})
    r = affix("-c", str(lab.dir), "check")
    assert r.returncode == 1 and "smtpd_helo_required" in r.stdout and HINT not in r.stdout
