"""|command deliveries (aliases, .forward, mailbox_command): /bin/sh -c CMD as the recipient."""

from __future__ import annotations

import os
import subprocess

from affix.delivery.privs import Privs, needs_child

EX_TEMPFAIL = 75  # sysexits.h: the command asks for a retry


def run_command(privs: Privs, command: str, data: bytes, env: dict[str, str], *,
                timeout: float, size_limit: int, shell: str = "") -> tuple[str, str]:
    """Run a delivery command; returns (dsn, text) for the log line."""
    blocks = size_limit // 512 if size_limit else 0
    # mailbox_size_limit applies to files written by commands too (RLIMIT_FSIZE, via ulimit).
    limit = f"ulimit -f {blocks} 2>/dev/null; " if blocks else ""
    argv = ["/bin/sh", "-c", limit + 'exec /bin/sh -c "$0"', command]
    if shell:
        argv = ["/bin/sh", "-c", limit + f"exec {shell} " + '"$0"', command]
    cwd = privs.home if os.path.isdir(privs.home) else "/"
    extra: dict = {}
    if needs_child(privs):
        extra = {"user": privs.uid, "group": privs.gid, "extra_groups": []}
    try:
        proc = subprocess.run(argv, input=data, capture_output=True, env=env, cwd=cwd,
                              timeout=timeout, check=False, **extra)
    except subprocess.TimeoutExpired:
        return "4.3.0", f'Command time limit exceeded: "{command}"'
    except OSError as e:
        return "4.3.0", f"cannot execute command: {e.strerror}"
    if proc.returncode == 0:
        return "2.0.0", f"delivered to command: {command}"
    output = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()
    text = f'Command died with status {proc.returncode}: "{command}"'
    if output:
        text += f". Command output: {' '.join(output.split())[:200]}"
    return ("4.3.0" if proc.returncode == EX_TEMPFAIL else "5.3.0"), text


def command_env(privs: Privs, sender: str, recipient: str, original: str,
                extension: str) -> dict[str, str]:
    """The environment local(8) gives commands."""
    local, _, domain = recipient.rpartition("@") if "@" in recipient else (recipient, "", "")
    return {"HOME": privs.home, "USER": privs.name, "LOGNAME": privs.name,
            "SHELL": privs.shell or "/bin/sh", "PATH": "/usr/bin:/bin",
            "SENDER": sender, "RECIPIENT": recipient, "ORIGINAL_RECIPIENT": original,
            "LOCAL": local, "DOMAIN": domain, "EXTENSION": extension}
