"""A lab for lint and explain: a config directory in tmp_path built from the recommended
config (tests/fixtures/recommended) or the memo's (tests/fixtures/memo), edited per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from affix.config.maincf import logical_lines
from affix.doctor.findings import Finding
from affix.doctor.lint import lint_findings
from affix.tables.compile import Options, compile_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RECOMMENDED = FIXTURES / "recommended"
MEMO = FIXTURES / "memo"
MEMO_TABLES = ("reject_client", "reject_sender", "ok-ips", "header_checks")


def set_params(text: str, params: dict[str, str | None]) -> str:
    """Replace (or add, or with None remove) whole main.cf entries."""
    lines = text.splitlines()
    for ll in logical_lines(text):
        name = ll.text.partition("=")[0].strip()
        if name in params:
            for n in range(ll.line - 1, ll.end_line):
                lines[n] = ""
    added = [f"{name} = {value}" for name, value in params.items() if value is not None]
    return "\n".join(lines + added) + "\n"


class Lab:
    def __init__(self, path: Path):
        self.dir = path

    def sub(self, text: str) -> str:
        return text.replace("%DIR%", str(self.dir))

    def main(self, params: dict[str, str | None] | None = None, extra: str = "",
             base: Path = RECOMMENDED / "main.cf") -> Path:
        text = set_params(base.read_text(), {k: self.sub(v) if v is not None else None
                                             for k, v in (params or {}).items()})
        path = self.dir / "main.cf"
        path.write_text(text + self.sub(extra))
        return path

    def master(self, text: str) -> Path:
        """DIR/master.cf (without one, lint and the server use `smtp inet ... smtpd`)."""
        path = self.dir / "master.cf"
        path.write_text(self.sub(text))
        return path

    def table(self, name: str, text: str, compile: bool = True) -> str:
        path = self.dir / name
        path.write_text(text)
        if compile:
            compile_source(str(path), Options(), [])
        return str(path)

    def memo(self, name: str = "main.cf", compile: bool = True, dns=None) -> Path:  # noqa: ANN001
        """The memo's main.cf with its /etc/postfix tables in this directory."""
        for table in MEMO_TABLES:
            shutil.copy(MEMO / table, self.dir / table)
            if compile and table != "header_checks":
                compile_source(str(self.dir / table), Options(), [])
        text = (MEMO / name).read_text().replace("/etc/postfix/", f"{self.dir}/")
        if dns is not None:
            text += dns.main_cf_line() + "\naffix_dns_timeout = 1s\n"
        path = self.dir / "main.cf"
        path.write_text(text)
        return path

    def lint(self, dns: bool = False) -> list[Finding]:
        return lint_findings(str(self.dir), dns=dns)

    def ids(self, dns: bool = False) -> set[str]:
        return {f.check for f in self.lint(dns)}


@pytest.fixture
def lab(tmp_path):
    return Lab(tmp_path)
