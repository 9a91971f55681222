"""Fixtures for the end-to-end tests: `affix_server(maincf)` gives an AffixServer
(e2e_helpers.py) in the test's tmp dir; any still running at the end of the test is killed."""

from __future__ import annotations

import pytest
from e2e_helpers import AffixServer


@pytest.fixture
def affix_server(tmp_path):
    servers: list[AffixServer] = []

    def make(maincf: str = "", name: str = "srv", base: bool = True) -> AffixServer:
        server = AffixServer(tmp_path / name, maincf, base)
        servers.append(server)
        return server

    yield make
    for server in servers:
        if server.running:
            server.kill()
