"""`affix explain` says what the server does: for each transaction, the reply that ends it
(code, DSN, text) and the smtpd log lines agree exactly between `affix explain --format json`
(a subprocess) and a real server built the way the daemon builds it (check_config, the
master.cf service's snapshot, build_runtime, make_session_context: engine, tables, resolver,
cleanup writing a real queue file), driven over SMTP from loopback with XCLIENT to play the
client. Both use the same DNS fixture. Configs: the memo's fixed main.cf, the recommended
main.cf + master.cf, and the fixed one with smtpd_delay_reject = no.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import smtplib
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from affix import log
from affix.check import check_config
from affix.daemon import build_runtime, make_directories, make_session_context
from affix.smtpd.server import SmtpService
from fixtures.files import RECOMMENDED
from fixtures.net import wait_for
from fixtures.processes import affix_cmd, affix_env

from .doctor_lab import set_params


@dataclass(frozen=True)
class Txn:
    label: str
    addr: str
    name: str  # "unknown": no name (XCLIENT NAME=[UNAVAILABLE]); [TEMPUNAVAIL] as in XCLIENT
    helo: str
    sender: str
    recipient: str  # "LOCAL" = the config's local user

    def explain_args(self, local: str) -> list[str]:
        return ["--client", self.addr, "--name", self.name, "--helo", self.helo,
                "--sender", self.sender, "--recipient", self.rcpt(local)]

    def rcpt(self, local: str) -> str:
        return local if self.recipient == "LOCAL" else self.recipient


GOOD = ("192.0.2.7", "mail.example.org")
TXNS = [
    Txn("clean", *GOOD, "mail.example.org", "a@example.org", "LOCAL"),
    Txn("null-sender", *GOOD, "mail.example.org", "", "LOCAL"),
    Txn("listed-network", "192.168.10.5", "unknown", "pc5", "a@example.org", "LOCAL"),
    Txn("dnsbl", "192.0.2.99", "mail.spam.example", "mail.spam.example", "a@example.org",
        "LOCAL"),
    Txn("no-client-name", "198.51.100.9", "unknown", "mail.example.org", "a@example.org",
        "LOCAL"),
    Txn("client-name-tempfail", "198.51.100.9", "[TEMPUNAVAIL]", "mail.example.org",
        "a@example.org", "LOCAL"),
    Txn("helo-not-fqdn", *GOOD, "pc5", "a@example.org", "LOCAL"),
    Txn("helo-invalid", *GOOD, "bad_helo!", "a@example.org", "LOCAL"),
    Txn("helo-unknown", *GOOD, "nx-helo.example", "a@example.org", "LOCAL"),
    Txn("helo-exempt-by-address", "203.0.113.30", "proxy.aaa.example", "alor.aaa.example",
        "info@example.org", "LOCAL"),
    Txn("sender-table", *GOOD, "mail.example.org", "spam@spam.com", "LOCAL"),
    Txn("sender-subdomain-table", *GOOD, "mail.example.org", "x@mx.spam.org", "LOCAL"),
    Txn("sender-not-fqdn", *GOOD, "mail.example.org", "a@localhost", "LOCAL"),
    Txn("sender-unknown-domain", *GOOD, "mail.example.org", "a@nx.example", "LOCAL"),
    Txn("relay", *GOOD, "mail.example.org", "a@example.org", "x@other.example"),
    Txn("relay-from-mynetworks", "127.0.0.9", "unknown", "pc5", "a@example.org",
        "x@other.example"),
    Txn("unknown-user", *GOOD, "mail.example.org", "a@example.org", "nobody@LOCALDOMAIN"),
]


def _dns(dns_server) -> None:  # noqa: ANN001
    for name, ip in (("mail.example.org", "192.0.2.7"), ("mail.spam.example", "192.0.2.99"),
                     ("proxy.aaa.example", "203.0.113.30"), ("mx.spam.org", "192.0.2.50")):
        dns_server.add(name, "A", ip)
    for domain in ("example.org", "spam.com", "spam.example", "spam.org", "aaa.example"):
        dns_server.add(domain, "MX", f"10 mail.{domain}")
    dns_server.add("99.2.0.192.zen.spamhaus.org", "A", "127.0.0.2")
    dns_server.add("99.2.0.192.zen.spamhaus.org", "TXT", "https://www.spamhaus.org/sbl/")
    dns_server.add("99.2.0.192.bl.spamcop.net", "A", "127.0.0.2")


# --- configurations ---------------------------------------------------------------------------

def _common(lab, dns_server) -> dict[str, str]:  # noqa: ANN001
    return {"affix_dns_servers": dns_server.main_cf_line().split("=", 1)[1].strip(),
            "affix_dns_timeout": "2s", "smtpd_authorized_xclient_hosts": "127.0.0.1",
            "queue_directory": f"{lab.dir}/queue", "data_directory": f"{lab.dir}/data"}


def _fixed(lab, dns_server, **extra: str) -> str:  # noqa: ANN001
    lab.memo("main-fixed.cf")
    path = lab.dir / "main.cf"
    path.write_text(set_params(path.read_text(), {**_common(lab, dns_server), **extra}))
    return "kororo@kororo.jp"


def _recommended(lab, dns_server) -> str:  # noqa: ANN001
    shutil.copy(RECOMMENDED / "master.cf", lab.dir / "master.cf")
    lab.main({**_common(lab, dns_server), "smtpd_tls_security_level": "none",
              "local_recipient_maps": "inline:{ user@example.com=user }", "alias_maps": ""})
    return "user@example.com"


CONFIGS = {
    "memo-fixed": _fixed,
    "recommended": _recommended,
    "memo-fixed-delay-reject-no": lambda lab, dns: _fixed(lab, dns, smtpd_delay_reject="no"),
}


# --- the server -------------------------------------------------------------------------------

class LiveServer:
    """The smtp service of DIR as `affix start` wires it, on 127.0.0.1 (random port)."""

    def __init__(self, config_dir: Path):
        checked = check_config(str(config_dir))
        [svc] = [s for s in checked.services if s.service_name == "smtp"]
        make_directories(checked.cfg)
        self.runtime = build_runtime(checked.cfg)
        self.ctx = make_session_context(checked.cfg, svc, self.runtime)
        self.stream = io.StringIO()
        self.old_log = log.get_log()
        log.set_log(log.MailLog(syslog_name=self.ctx.cfg.get("syslog_name"),
                                hostname=self.ctx.cfg.get("myhostname"), stream=self.stream))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.service = SmtpService(svc.name, "127.0.0.1", 0, lambda: self.ctx)
        self._call(self.service.start())
        self.port = self.service.bound_port

    def _call(self, coro):  # noqa: ANN001, ANN202
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        async def shutdown() -> None:
            self.service.stop_listening()
            await self.service.drain(1)
            await self.ctx.policy.close()

        self._call(shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        log.set_log(self.old_log)

    def run(self, txn: Txn, local: str) -> tuple[str, list[str]]:
        """The reply that ends the transaction ("accepted" for 250 after the message), and
        the smtpd log lines it produced."""
        mark = len(self.stream.getvalue())
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
            name = "[UNAVAILABLE]" if txn.name == "unknown" else txn.name
            steps = [("XCLIENT", f"NAME={name} ADDR={txn.addr}", 220),
                     ("EHLO", txn.helo, 250), ("MAIL", f"FROM:<{txn.sender}>", 250),
                     ("RCPT", f"TO:<{txn.rcpt(local)}>", 250), ("DATA", "", 354)]
            final = "accepted"
            for verb, arg, ok in steps:
                code, text = client.docmd(verb, arg)
                if code != ok:
                    final = f"{code} {text.decode()}"
                    break
            else:
                client.send(b"Subject: test\r\n\r\nhello\r\n.\r\n")
                code, text = client.getreply()
                final = "accepted" if code == 250 else f"{code} {text.decode()}"
            client.docmd("QUIT")
        wait_for(lambda: "disconnect from" in self.stream.getvalue()[mark:], 5,
                 "the server to log the end of the session")
        return final, _smtpd_lines(self.stream.getvalue()[mark:])


_LINE = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+) (\S+?)\[\d+\]: (.*)$")
_SESSION = re.compile(r"^(connect from|disconnect from|\w+: client=)")


def _smtpd_lines(text: str) -> list[str]:
    """`HOST TAG: MESSAGE` of each smtpd line (timestamp and pid dropped), without the
    session bookkeeping (connect, disconnect, client=) that explain does not model."""
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and m.group(2).endswith("/smtpd") and not _SESSION.match(m.group(3)):
            out.append(f"{m.group(1)} {m.group(2)}: {m.group(3)}")
    return out


# --- explain ----------------------------------------------------------------------------------

def _explain_all(config_dir: Path, txns: list[Txn], local: str) -> list[dict]:
    """`affix explain --format json` for each transaction (subprocesses run side by side)."""
    procs = [subprocess.Popen(affix_cmd("-c", str(config_dir), "explain",
                                        *t.explain_args(local), "--format", "json"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=affix_env()) for t in txns]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode in (0, 1), stderr
        out.append(json.loads(stdout))
    return out


def _explained(data: dict) -> tuple[str, list[str]]:
    final = data["reply"] if data["result"] == "rejected" else "accepted"
    lines = [f"{m.group(1)} {m.group(2)}: {m.group(3)}"
             for m in map(_LINE.match, data["log"]) if m]
    return final, lines


@pytest.mark.parametrize("config", list(CONFIGS))
def test_explain_and_server_agree_on_reply_and_log(config, lab, dns_server):
    _dns(dns_server)
    local = CONFIGS[config](lab, dns_server)
    domain = local.split("@")[1]
    txns = [Txn(t.label, t.addr, t.name, t.helo, t.sender,
                t.recipient.replace("LOCALDOMAIN", domain)) for t in TXNS]
    explained = _explain_all(lab.dir, txns, local)
    server = LiveServer(lab.dir)
    try:
        served = [server.run(t, local) for t in txns]
    finally:
        server.stop()
    mismatches = []
    for txn, data, (final, lines) in zip(txns, explained, served, strict=True):
        if _explained(data) != (final, lines):
            mismatches.append(f"{txn.label}:\n  explain: {_explained(data)}\n"
                              f"  server:  {(final, lines)}")
    assert not mismatches, "\n".join(mismatches)
    # the configs and inputs exercise both outcomes and more than one stage
    outcomes = {f.split()[0] if f != "accepted" else f for f, _ in served}
    assert "accepted" in outcomes and len(outcomes) >= 3, outcomes
