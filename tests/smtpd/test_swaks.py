"""End to end with swaks, a real SMTP client (skipped when it is not installed)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

swaks = shutil.which("swaks")
pytestmark = pytest.mark.skipif(swaks is None, reason="swaks is not installed")


def _swaks(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([swaks, "--server", "127.0.0.1", "--port", str(port),
                           "--from", "a@example.org", "--to", "b@example.jp",
                           "--helo", "client.example", *args],
                          capture_output=True, text=True, timeout=60)


def test_swaks_delivers_with_pipelining(smtpd):
    server = smtpd()
    result = _swaks(server.port, "--pipeline", "--body", "line one\n.dot line\n")
    assert result.returncode == 0, result.stdout + result.stderr
    qid = server.queue_id()
    assert f"250 2.0.0 Ok: queued as {qid}" in result.stdout
    assert server.cleanup.queued(qid)
    body = server.cleanup.messages[0][1]
    assert b"\n.dot line\n" in body
    assert "improper" not in server.log


def test_swaks_without_pipelining(smtpd):
    server = smtpd()
    result = _swaks(server.port, "--protocol", "ESMTP", "--body", "chunked body")
    assert result.returncode == 0
    assert server.cleanup.queued(server.queue_id())
    assert b"chunked body" in server.cleanup.messages[0][1]
