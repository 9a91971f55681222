"""An affix instance for the lifecycle tests: a config directory under tmp with its own queue
and data directories and a free loopback port, driven with the real `affix -c DIR VERB`."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from fixtures.net import free_port


class Instance:
    def __init__(self, root: Path, affix: Callable[..., subprocess.CompletedProcess[str]],
                 settings: Sequence[str] = ("affix_stop_grace_time = 5s",)):
        """`settings`: main.cf lines kept by every write_main (after the directories)."""
        self.dir = root / "etc"
        self.dir.mkdir()
        self.data = root / "data"
        self.port = free_port()
        self.affix = affix
        self.settings = [f"queue_directory = {self.data}/queue", f"data_directory = {self.data}",
                         "compatibility_level = 3.7", *settings]
        self.write_main("smtpd_banner = $myhostname ESMTP first")
        self.write_master(f"127.0.0.1:{self.port} inet n - n - - smtpd")

    def write_main(self, *lines: str) -> None:
        (self.dir / "main.cf").write_text("\n".join(self.settings + list(lines)) + "\n")

    def write_master(self, *lines: str) -> None:
        (self.dir / "master.cf").write_text("\n".join(lines) + "\n")

    def run(self, verb: str) -> subprocess.CompletedProcess[str]:
        done = self.affix("-c", str(self.dir), verb)
        assert "Traceback" not in done.stderr + done.stdout
        return done

    @property
    def maillog(self) -> str:
        path = self.data / "maillog"
        return path.read_text() if path.exists() else ""

    def pid(self) -> int | None:
        path = self.data / "affix.pid"
        text = path.read_text().strip() if path.exists() else ""
        return int(text) if text.isdigit() else None
