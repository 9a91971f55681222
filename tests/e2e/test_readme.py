"""README.md's "Trying it", run as written: `affix start-fg` on the built-in configuration
(127.0.0.1:2525), `swaks --server 127.0.0.1:2525 --to "$USER@localhost"`, and the message is
in the Maildir under $XDG_DATA_HOME/affix (else ~/.local/share/affix); the log is on stderr
and Ctrl-C stops the server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from e2e_helpers import USER

from fixtures.net import port_free, wait_for
from fixtures.processes import affix_cmd, affix_env

README = Path(__file__).resolve().parents[2] / "README.md"


pytestmark = [
    pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed"),
    pytest.mark.skipif(os.path.exists("/etc/affix/main.cf"),
                       reason="/etc/affix/main.cf would replace the built-in configuration"),
]


def try_it(env: dict[str, str], stderr_path: Path) -> tuple[str, str]:
    """start-fg, swaks to $USER@localhost, Ctrl-C; (swaks output, server stderr)."""
    if not port_free(2525):
        pytest.skip("port 2525 is busy")
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(affix_cmd("start-fg"), stdin=subprocess.DEVNULL, stdout=err,
                                stderr=err, env=env, start_new_session=True)
    try:
        wait_for(lambda: b"daemon started" in stderr_path.read_bytes() or proc.poll() is not None,
                 20, "start-fg")
        assert proc.poll() is None, stderr_path.read_text()
        swaks = subprocess.run(["swaks", "--server", "127.0.0.1:2525", "--to",
                                f"{env['USER']}@localhost"], capture_output=True, text=True,
                               env=env, timeout=30)
        wait_for(lambda: b"status=sent" in stderr_path.read_bytes(), 10, "the delivery")
        proc.send_signal(signal.SIGINT)  # "Stop it with Ctrl-C"
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return swaks.stdout, stderr_path.read_text()


def test_readme_commands_are_the_ones_tested():
    text = README.read_text()
    assert "affix start-fg" in text and "127.0.0.1:2525" in text
    assert 'swaks --server 127.0.0.1:2525 --to "$USER@localhost"' in text


def test_readme_try_it_delivers_to_the_maildir_under_xdg_data_home(tmp_path):
    home, data = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    env = affix_env(HOME=str(home), XDG_DATA_HOME=str(data), USER=USER)
    out, log = try_it(env, tmp_path / "stderr")
    assert "<-  220 " in out and "<-  250 2.0.0 Ok: queued as" in out
    new = data / "affix" / "mail" / USER / "new"
    (message,) = list(new.iterdir())
    assert b"Subject: test " in message.read_bytes()  # swaks' default subject
    assert f"to=<{USER}@localhost>, relay=local" in log and "(delivered to maildir)" in log
    assert (data / "affix" / "queue").is_dir()
    assert not (home / ".local").exists()


def test_readme_try_it_without_xdg_data_home_uses_local_share(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = affix_env(HOME=str(home), USER=USER)
    env.pop("XDG_DATA_HOME", None)
    try_it(env, tmp_path / "stderr")
    assert len(list((home / ".local" / "share" / "affix" / "mail" / USER / "new").iterdir())) == 1
