"""A harness for driving the restriction engine directly: real config files, real tables,
the real DNS fixture, and the mail log captured as text."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from affix import log
from affix.config.snapshot import load_config
from affix.dns.resolver import Resolver
from affix.policy.engine import RestrictionEngine
from affix.policy.evaluation import TraceRecord
from affix.policy.request import NameStatus, SessionState, Stage, Verdict
from affix.tables import TableCache
from affix.tables.compile import Options, compile_source
from fixtures.files import copy_memo_tables, memo_main_cf


@pytest.fixture(autouse=True)
def _fresh_process_warnings():
    """Deprecation warnings are logged once per process: each test is a process of its own."""
    from affix.policy import engine

    engine._WARNED.clear()


BASE_MAINCF = """\
compatibility_level = 3.7
myhostname = mx.kororo.jp
mydomain = kororo.jp
myorigin = $myhostname
mydestination = $myhostname, localhost.$mydomain, localhost, kororo.jp
mynetworks = 127.0.0.0/8
inet_interfaces = loopback-only
local_recipient_maps = inline:{ kororo@kororo.jp=kororo, postmaster@kororo.jp=root }
alias_maps =
affix_dns_timeout = 1s
"""

# The facts of a typical outside client, overridden per test.
DEFAULT_FACTS = dict(client_addr="192.0.2.7", client_name="mail.example.org",
                     reverse_name="mail.example.org", name_status=NameStatus.OK,
                     reverse_status=NameStatus.OK, helo="mail.example.org", protocol="ESMTP",
                     sender="a@example.org", recipient="kororo@kororo.jp")


@dataclass
class Run:
    verdict: Verdict
    log: list[str]
    trace: list[TraceRecord] = field(default_factory=list)

    @property
    def reply(self) -> str | None:
        return None if self.verdict.reply is None else str(self.verdict.reply)

    def lines(self, kind: str = "") -> list[str]:
        """Log texts after `smtpd[pid]: `, optionally only those containing `kind`."""
        return [line.split("]: ", 1)[1] for line in self.log if kind in line]


class Harness:
    def __init__(self, tmp_path: Path, dns_server):
        self.dir = tmp_path
        self.dns = dns_server
        self.stream = io.StringIO()

    def file(self, name: str, text: str) -> str:
        path = self.dir / name
        path.write_text(text)
        return str(path)

    def table(self, name: str, text: str) -> str:
        """A table source file, also compiled (as `affix map` does) for hash:/lmdb: use."""
        path = self.file(name, text)
        compile_source(path, Options(), [])
        return path

    def engine(self, maincf: str = "", base: str = BASE_MAINCF) -> RestrictionEngine:
        text = base + self.dns.main_cf_line() + "\n" + maincf.replace("%DIR%", str(self.dir))
        (self.dir / "main.cf").write_text(text)
        cfg = load_config(str(self.dir))
        return RestrictionEngine(cfg, TableCache(cfg), Resolver.from_config(cfg))

    def memo_engine(self, name: str = "main.cf",
                    edit: Callable[[str], str] = lambda text: text) -> RestrictionEngine:
        """A main.cf from tests/fixtures/memo with its /etc/postfix tables in this test's
        directory (compiled like `affix map` would); the DNS fixture line is appended."""
        copy_memo_tables(self.dir)
        return self.engine(memo_main_cf(self.dir, name, edit), base="")

    def session(self, **facts) -> SessionState:
        merged = {**DEFAULT_FACTS, **facts}
        return SessionState(**merged)

    def check(self, engine: RestrictionEngine, stage: Stage, state: SessionState) -> Run:
        return asyncio.run(self.acheck(engine, stage, state))

    async def acheck(self, engine: RestrictionEngine, stage: Stage,
                     state: SessionState) -> Run:
        """check() inside a running loop (for tests that run servers in the same loop)."""
        start = self.stream.tell()
        trace: list[TraceRecord] = []
        verdict = await engine.check(stage, state, trace)
        self.stream.seek(start)
        text = self.stream.read()
        return Run(verdict, [ln for ln in text.splitlines() if ln], trace)

    def rcpt(self, maincf: str = "", **facts) -> Run:
        return self.check(self.engine(maincf), Stage.RCPT, self.session(**facts))


@pytest.fixture
def policy(tmp_path, dns_server):
    harness = Harness(tmp_path, dns_server)
    old = log.get_log()
    log.set_log(log.MailLog(syslog_name="postfix", hostname="mx", stream=harness.stream))
    yield harness
    log.set_log(old)
