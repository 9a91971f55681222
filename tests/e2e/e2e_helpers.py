"""The whole server as a user runs it: `affix -c DIR start-fg` in a subprocess, with a config
directory, queue, Maildirs and mail log under the test's tmp dir, on a free loopback port.

AffixServer(root, maincf) writes the config (not started yet). `.start()` waits for `daemon
started` in the mail log; `.kill()` is a SIGKILL to the server's process group (the server
and any delivery command it runs: a crash, not a stop); `.stop()` is `affix stop`.
"""

from __future__ import annotations

import contextlib
import email
import os
import pwd
import re
import signal
import smtplib
import subprocess
from collections import Counter
from pathlib import Path

from fixtures.net import free_port, wait_for
from fixtures.processes import affix_cmd, affix_env

USER = pwd.getpwuid(os.geteuid()).pw_name
HOST = "mx.example.test"


def set_here(maincf: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^(\w+)\s*=", maincf, re.M)}


def base_maincf(root: Path, skip: set[str] = frozenset()) -> str:
    """What every e2e server shares: its own directories, a quick retry schedule, no tarpit.
    Parameters in `skip` are left out (the test sets them; no "overriding" warning)."""
    lines = [
        "compatibility_level = 3.7",
        f"myhostname = {HOST}",
        "mydestination = $myhostname, localhost, example.test",
        "mynetworks = 127.0.0.0/8",
        f"queue_directory = {root}/queue",
        f"data_directory = {root}/data",
        f"mail_spool_directory = {root}/mail/",  # ending in "/": Maildir delivery
        f"maillog_file = {root}/maillog",
        "alias_maps =",
        "smtpd_error_sleep_time = 0",
        "affix_stop_grace_time = 2s",
        "minimal_backoff_time = 1s",
        "maximal_backoff_time = 1s",
        "queue_run_delay = 1s",
        "affix_incoming_poll_time = 1s",
        "deliver_lock_delay = 0s",
    ]
    return "".join(f"{line}\n" for line in lines if line.split(" =")[0] not in skip)


class AffixServer:
    def __init__(self, root: Path, maincf: str, base: bool = True):
        self.root = root
        self.etc = root / "etc"
        self.etc.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.maillog = root / "maillog"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.daemon = False
        text = (base_maincf(root, set_here(maincf)) if base else "") + maincf
        (self.etc / "main.cf").write_text(text.replace("%DIR%", str(root)))
        (self.etc / "master.cf").write_text(f"127.0.0.1:{self.port} inet n - n - - smtpd\n")

    # --- the process ---------------------------------------------------------------------
    def affix(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """`affix -c DIR ARGS` (this checkout), as the admin types it."""
        done = subprocess.run(affix_cmd("-c", str(self.etc), *args), capture_output=True,
                              text=True, env=affix_env(), timeout=timeout)
        assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
        return done

    def start(self) -> AffixServer:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        stderr = open(self.root / f"stderr.{self.starts}", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(affix_cmd("-c", str(self.etc), "start-fg"),
                                     stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                                     env=affix_env(), start_new_session=True)
        stderr.close()
        wait_for(self._started, 20, "the server to start")
        return self

    def _started(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            err = (self.root / f"stderr.{self.starts}").read_text()
            raise AssertionError(f"affix start-fg exited {self.proc.returncode}: {err}"
                                 f"\n{self.log}")
        return self.log.count("daemon started -- version") >= self.starts

    def start_daemon(self) -> AffixServer:
        """`affix -c DIR start`: checks, forks into the background, returns once it listens."""
        self.starts += 1
        self.daemon = True
        done = self.affix("start")
        assert done.returncode == 0, done.stderr
        assert self._started()
        return self

    def pid(self) -> int | None:
        path = self.root / "data" / "affix.pid"
        text = path.read_text().strip() if path.exists() else ""
        return int(text) if text.isdigit() else None

    def cleanup(self) -> None:
        """End of test: a foreground server is killed; a daemon gets `affix stop`, then
        SIGKILL by its pid if it would not stop."""
        if self.running:
            self.kill()
        if not self.daemon:
            return
        pid = self.pid()
        running = pid is not None and self.affix("status").returncode == 0
        if running and self.affix("stop").returncode != 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def kill(self) -> None:
        """A crash: SIGKILL to the server and the delivery commands it runs."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        done = self.affix("stop")
        assert done.returncode == 0, done.stderr
        assert self.proc is not None
        self.proc.wait(10)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # --- what it wrote -------------------------------------------------------------------
    @property
    def log(self) -> str:
        return self.maillog.read_text() if self.maillog.exists() else ""

    def log_lines(self, pattern: str) -> list[str]:
        return [line for line in self.log.splitlines() if re.search(pattern, line)]

    def wait_log(self, pattern: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        """The log lines matching `pattern` (a regex), once there are at least `count`."""
        def enough() -> list[str] | None:
            lines = self.log_lines(pattern)
            return lines if len(lines) >= count else None
        return wait_for(enough, timeout,
                        lambda: f"{count} log line(s) matching {pattern!r} in:\n{self.log}")

    def queue_files(self, *queues: str) -> list[str]:
        found = []
        for q in queues or ("incoming", "active", "deferred", "hold"):
            base = self.root / "queue" / q
            if base.exists():
                found += [p.name for p in base.rglob("*") if p.is_file()]
        return found

    def maildir(self, user: str = USER) -> list[Path]:
        new = self.root / "mail" / user / "new"
        return sorted(new.iterdir()) if new.exists() else []

    def message_ids(self, user: str = USER) -> Counter[str]:
        """Message-ID -> how many copies the Maildir holds."""
        ids: Counter[str] = Counter()
        for path in self.maildir(user):
            msg = email.message_from_bytes(path.read_bytes())
            ids[str(msg.get("Message-ID", "")).strip()] += 1
        return ids

    def wait_queue_empty(self, timeout: float = 15.0) -> None:
        wait_for(lambda: not self.queue_files(), timeout,
                 lambda: f"an empty queue: {self.queue_files()}")

    # --- clients -------------------------------------------------------------------------
    def smtp(self, helo: str = "client.example.org", timeout: float = 10) -> smtplib.SMTP:
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=timeout)
        s.ehlo(helo)
        return s

    def swaks(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(self.port),
                               *args], capture_output=True, text=True, timeout=timeout)


def message(msgid: str, subject: str = "test", body: str = "hello\n", size: int = 0,
            headers: str = "") -> bytes:
    """A message with a known Message-ID (how the tests count deliveries)."""
    text = (f"Message-ID: <{msgid}>\r\nFrom: a@example.org\r\nTo: root@example.test\r\n"
            f"Subject: {subject}\r\n{headers}\r\n{body}")
    if size:
        text += ("x" * 76 + "\r\n") * (size // 78 + 1)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
