"""Shared test helpers: run the real `affix` command as a subprocess of this checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"


def affix_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run_affix(*args: str, input: str | None = None, env: dict[str, str] | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `affix ARGS` (this checkout's code) and capture its output."""
    return subprocess.run([sys.executable, "-m", "affix", *args], input=input,
                          capture_output=True, text=True, env=env or affix_env(),
                          timeout=timeout)


@pytest.fixture
def affix():
    return run_affix


# --- DNS fixture (area dns): a real DNS server on loopback, see tests/fixtures/dnsserver.py ---
@pytest.fixture(scope="session")
def _dns_server_session():
    from fixtures.dnsserver import DnsServer

    server = DnsServer().start()
    yield server
    server.stop()


@pytest.fixture
def dns_server(_dns_server_session):
    """The session's DNS server, emptied for this test. `.main_cf_line()` gives
    `affix_dns_servers = 127.0.0.1:PORT` for a test's main.cf."""
    _dns_server_session.clear()
    _dns_server_session.negative_ttl = 60
    yield _dns_server_session
    _dns_server_session.clear()
