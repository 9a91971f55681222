"""An admin's session, command by command: `affix start`, mail sent with swaks, a message that
waits in the queue (`affix queue`), `affix flush` once its problem is fixed, `affix stop`, and
pflogsumm's report on the mail log. And ETRN, which asks the running queue manager for the
same flush over SMTP."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from e2e_helpers import USER

needs = pytest.mark.skipif(not (shutil.which("swaks") and shutil.which("pflogsumm")),
                           reason="swaks and pflogsumm are needed")

# `later` is a |command alias that asks for a retry (EX_TEMPFAIL, 75) until GATE/go exists.
LATE_ALIAS = 'later: "|test -e {gate}/go || exit 75"\n'
# Retries only when asked for: without a flush the deferred message stays put.
SLOW_RETRIES = ("minimal_backoff_time = 1h\nmaximal_backoff_time = 1h\nqueue_run_delay = 1h\n"
                "alias_maps = hash:%DIR%/aliases\nalias_database = hash:%DIR%/aliases\n")


def with_late_alias(affix_server, gate, maincf: str = ""):
    server = affix_server(SLOW_RETRIES + maincf)
    (server.root / "aliases").write_text(LATE_ALIAS.format(gate=gate))
    assert server.affix("newaliases").returncode == 0
    return server


def swaks_to(server, rcpt: str, *args: str):
    return server.swaks("--from", "alice@example.org", "--to", rcpt,
                        "--helo", "client.example.org", *args)


@needs
def test_start_swaks_queue_flush_stop_and_pflogsumm(affix_server, gate):
    server = with_late_alias(affix_server, gate)
    server.start_daemon()
    assert server.affix("status").returncode == 0

    sent = swaks_to(server, f"{USER}@example.test", "--header", "Subject: hello")
    assert sent.returncode == 0 and "<-  250 2.0.0 Ok: queued as" in sent.stdout, sent.stdout
    late = swaks_to(server, "later@example.test")
    (late_id,) = re.findall(r"<-  250 2\.0\.0 Ok: queued as (\w+)", late.stdout)
    refused = swaks_to(server, "nosuchuser@example.test")
    assert ("<** 550 5.1.1 <nosuchuser@example.test>: Recipient address rejected: User unknown "
            "in local recipient table") in refused.stdout

    server.wait_log(rf"{late_id}: to=<later@example.test>.* status=deferred")
    queue = server.affix("queue").stdout
    assert re.search(rf"^{late_id}\s+\d+ \w{{3}} \w{{3}} [ \d]\d \d\d:\d\d:\d\d  "
                     r"alice@example\.org$", queue, re.M), queue
    assert "(temporary failure)" in queue
    assert re.search(r"^\s+later@example\.test$", queue, re.M)
    assert queue.rstrip().endswith("in 1 Request.")

    (gate / "go").touch()
    assert server.affix("flush").returncode == 0
    server.wait_log(rf"{late_id}: to=<later@example.test>.* status=sent \(delivered to "
                    r"command: ")
    server.wait_log(rf"{late_id}: removed")
    assert server.affix("queue").stdout.strip() == "Mail queue is empty"
    assert len(server.maildir()) == 1

    assert server.affix("stop").returncode == 0
    assert server.affix("status").returncode == 1
    report = pflogsumm(server.maillog)
    assert grand_total(report, "received") == 2
    assert grand_total(report, "delivered") == 2
    assert grand_total(report, "deferred") == 1
    assert grand_total(report, "rejected") == 1
    assert grand_total(report, "bounced") == 0
    assert re.search(r"Recipient address rejected: User unknown in local recipient table "
                     r"\(total: 1\)\n\s+1\s+nosuchuser@example\.test", report), report
    assert re.search(r"^\s+1\s+later@example\.test$", report, re.M)  # by message count
    assert "Warnings: none" in report and "Fatal Errors: none" in report


def pflogsumm(path) -> str:
    done = subprocess.run(["pflogsumm", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def grand_total(report: str, what: str) -> int:
    """A number from pflogsumm's "Grand Totals" block (`    2   received`)."""
    m = re.search(rf"^\s*(\d+)\s+{what}\b", report, re.M)
    assert m, f"no {what!r} in:\n{report}"
    return int(m.group(1))


def test_etrn_asks_the_queue_manager_to_retry_now(affix_server, gate):
    server = with_late_alias(affix_server, gate, "fast_flush_domains = example.test\n")
    server.start()
    s = server.smtp()
    s.sendmail("alice@example.org", ["later@example.test"], b"Subject: etrn\r\n\r\nx\r\n")
    server.wait_log(r"to=<later@example.test>.* status=deferred")
    (gate / "go").touch()
    assert s.docmd("ETRN", "example.test") == (250, b"Queuing started")
    assert s.docmd("ETRN", "other.example") == (459, b"<other.example>: service unavailable")
    server.wait_log(r"to=<later@example.test>.* status=sent \(delivered to command: ")
    s.quit()
    assert server.wait_log(r"disconnect from")[-1].endswith(
        "ehlo=1 mail=1 rcpt=1 data=1 etrn=1/2 quit=1 commands=6/7")
