"""`affix conf | head` must not end in a traceback when the reader goes away."""

from __future__ import annotations

import subprocess

from fixtures.processes import affix_cmd, affix_env


def test_output_to_a_closed_pipe_exits_quietly():
    proc = subprocess.Popen(affix_cmd("conf", "-d"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=affix_env())
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader leaves before the first line
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in stderr and stderr == ""
