"""`affix lint` as a command: output format, JSON, exit status by worst severity."""

from __future__ import annotations

import json
import re

LINE = re.compile(r"^(.+?):(\d+)?:? ?(error|warning|info): \[(AFX-[A-Z]+-\d{3})\] (.+)$")


def test_lint_clean_config_exits_0(affix, lab):
    lab.main()
    r = affix("-c", str(lab.dir), "lint")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "0 errors, 0 warnings, 0 info"


def test_lint_info_only_exits_0(affix, lab):
    lab.main({"disable_vrfy_command": "no"})
    r = affix("lint", "-c", str(lab.dir))  # -c after the verb works too
    assert r.returncode == 0
    assert "info: [AFX-SMTP-001]" in r.stdout


def test_lint_warnings_exit_1(affix, lab):
    lab.main({"smtpd_banner": "ESMTP ready"})
    r = affix("-c", str(lab.dir), "lint")
    assert r.returncode == 1
    [line] = [ln for ln in r.stdout.splitlines() if "AFX-SMTP-002" in ln]
    m = LINE.match(line)
    assert m and m.group(1) == str(lab.dir / "main.cf") and m.group(3) == "warning"
    assert int(m.group(2)) == len((lab.dir / "main.cf").read_text().splitlines())
    assert line.endswith(")") and "; " in line  # (why; what to write instead)


def test_lint_memo_errors_exit_2_with_file_line_format(affix, lab):
    lab.memo()
    r = affix("-c", str(lab.dir), "lint")
    assert r.returncode == 2
    findings = [ln for ln in r.stdout.splitlines()[:-1]]
    assert findings and all(LINE.match(ln) for ln in findings), findings
    assert re.search(r"main\.cf:\d+: error: \[AFX-SYN-001\] \"//\" is not a comment", r.stdout)


def test_lint_json_for_tooling(affix, lab):
    lab.memo()
    r = affix("-c", str(lab.dir), "lint", "--format", "json")
    assert r.returncode == 2
    data = json.loads(r.stdout)
    assert data["exit"] == 2
    assert data["summary"]["error"] == len([f for f in data["findings"]
                                            if f["severity"] == "error"])
    first = data["findings"][0]
    assert set(first) == {"check", "severity", "file", "line", "message", "why", "fix"}
    syn = [f for f in data["findings"] if f["check"] == "AFX-SYN-001"]
    assert syn and "//逆引き" in syn[0]["why"]


def test_lint_missing_directory_exits_3(affix, tmp_path):
    r = affix("-c", str(tmp_path / "nowhere"), "lint")
    assert r.returncode == 3
    assert r.stderr == f"affix lint: {tmp_path}/nowhere/main.cf: No such file or directory\n"


def test_lint_bad_option_exits_3(affix, lab):
    lab.main()
    r = affix("-c", str(lab.dir), "lint", "--format", "xml")
    assert r.returncode == 3 and "usage" in r.stderr


def test_lint_list_prints_catalog(affix):
    r = affix("lint", "--list")
    assert r.returncode == 0
    assert "AFX-SYN-001\terror\t" in r.stdout and "AFX-RST-013\twarning\t" in r.stdout
