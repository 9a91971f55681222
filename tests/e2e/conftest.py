"""Fixtures for the end-to-end tests: `affix_server(maincf)` gives an AffixServer
(e2e_helpers.py) in the test's tmp dir; any still running at the end of the test is killed."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

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
        server.cleanup()


@pytest.fixture
def gate():
    """A directory every user can read: a delivery command (run as default_privs, e.g.
    nobody) can wait for, or fail until, the file `go` appears in it."""
    path = tempfile.mkdtemp(prefix="affix-e2e-")
    os.chmod(path, 0o755)
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)
