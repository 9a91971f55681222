"""What `affix map -q` and the server import: modules that cost start-up time (issue 3) or
memory in every server process (issue 4) stay out until a feature needs them.

Each command runs under `python -S -X importtime` with site-packages appended by hand, so the
list is what affix imports itself, whatever the machine's site .pth files load at start-up.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
# `-m affix` without site: affix from this checkout, lmdb and uvloop from site-packages
BOOT = ("import runpy, sys; sys.path[:0] = [{src!r}]; sys.path.append({site!r}); "
        "sys.argv[0] = 'affix'; runpy.run_module('affix', run_name='__main__')")


def affix_bare(*args: str, **popen) -> subprocess.Popen[bytes]:
    boot = BOOT.format(src=str(SRC), site=sysconfig.get_paths()["purelib"])
    return subprocess.Popen([sys.executable, "-S", "-X", "importtime", "-c", boot, *args],
                            stderr=subprocess.PIPE, **popen)


def imported(stderr: bytes) -> set[str]:
    """Module names from -X importtime lines (`import time: self | cumulative | name`)."""
    return {line.split("|")[2].strip() for line in stderr.decode().splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def test_map_query_imports_the_table_code_only(tmp_path):
    (tmp_path / "main.cf").write_text("")
    source = tmp_path / "access"
    source.write_text("spam@example.com REJECT\n")
    build = affix_bare("-c", str(tmp_path), "map", f"hash:{source}")
    assert build.wait(30) == 0, build.stderr.read()
    query = affix_bare("-c", str(tmp_path), "map", "-q", "spam@example.com", f"hash:{source}",
                       stdout=subprocess.PIPE)
    out, err = query.communicate(timeout=30)
    assert (query.returncode, out) == (0, b"REJECT\n")
    modules = imported(err)
    assert {"affix.tables.indexed", "lmdb"} <= modules  # the parse did see the imports
    heavy = {"dataclasses", "inspect", "typing", "argparse", "ipaddress", "pathlib",
             "affix.config.snapshot", "affix.tables.cache", "affix.log"}
    assert modules & heavy == set()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ehlo(port: int, server: subprocess.Popen[bytes]) -> bytes:
    deadline = time.monotonic() + 20
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except ConnectionRefusedError:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the server did not listen"
            time.sleep(0.05)
    with sock, sock.makefile("rb") as f:
        f.readline()
        sock.sendall(b"EHLO client.example\r\n")
        reply = f.readline()
        sock.sendall(b"QUIT\r\n")
        return reply


def test_server_leaves_out_what_a_session_does_not_use(tmp_path):
    port = _port()
    (tmp_path / "main.cf").write_text(
        f"queue_directory = {tmp_path}/queue\ndata_directory = {tmp_path}/data\n"
        f"maillog_file = {tmp_path}/maillog\ncompatibility_level = 3.7\n"
        "mynetworks = 127.0.0.0/8\n"
        "smtpd_client_restrictions = permit_mynetworks, reject_unknown_client_hostname\n")
    (tmp_path / "master.cf").write_text(f"127.0.0.1:{port} inet n - n - - smtpd\n")
    server = affix_bare("-c", str(tmp_path), "start-fg", stdout=subprocess.DEVNULL)
    try:
        assert _ehlo(port, server).startswith(b"250-")
    finally:
        os.kill(server.pid, signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    modules = imported(err)
    assert {"affix.daemon", "affix.smtpd.session"} <= modules
    # pathlib, importlib.resources (tempfile, shutil, zipfile), datetime, email: none of them
    # is needed to take a session; each costs every server process memory
    heavy = {"pathlib", "importlib.resources", "tempfile", "shutil", "zipfile", "datetime",
             "email", "email.utils"}
    assert modules & heavy == set()
