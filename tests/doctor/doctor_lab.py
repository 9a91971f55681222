"""A lab for lint and explain: a config directory in tmp_path built from the recommended
config (tests/fixtures/recommended) or the memo's (tests/fixtures/memo), edited per test.
The `lab` fixture (conftest.py) gives one; tests import set_params from here."""

from __future__ import annotations

from pathlib import Path

from affix.config.maincf import logical_lines
from affix.doctor.findings import Finding
from affix.doctor.lint import lint_findings
from affix.tables.compile import Options, compile_source
from fixtures.files import RECOMMENDED, copy_memo_tables, memo_main_cf


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
        copy_memo_tables(self.dir, compile)
        text = memo_main_cf(self.dir, name)
        if dns is not None:
            text += dns.main_cf_line() + "\naffix_dns_timeout = 1s\n"
        path = self.dir / "main.cf"
        path.write_text(text)
        return path

    def lint(self, dns: bool = False) -> list[Finding]:
        return lint_findings(str(self.dir), dns=dns)

    def ids(self, dns: bool = False) -> set[str]:
        return {f.check for f in self.lint(dns)}
