"""Fixtures for every test directory: `affix` runs the real command of this checkout as a
subprocess (tests/fixtures/processes.py), `dns_server` is a real DNS server on loopback.

Helpers that tests import live in tests/fixtures/ (or a uniquely named module next to the
tests), never here: each test directory has a conftest.py of its own, and `from conftest
import ...` gets whichever of them pytest imported last."""

from __future__ import annotations

import pytest

from fixtures.processes import run_affix


@pytest.fixture
def affix():
    """run_affix: `affix ARGS` -> CompletedProcess with the output as text."""
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
