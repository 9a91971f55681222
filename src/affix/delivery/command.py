"""|command deliveries (aliases, .forward, mailbox_command): /bin/sh -c CMD as the recipient."""

from __future__ import annotations

import os
import subprocess

from affix.delivery.privs import Privs, needs_child
from affix.queue.envelope import Envelope

# sysexits.h: a command that exits with one of these says what went wrong; the DSN class
# decides between a retry (4) and a bounce (5), as local(8) decides
SYSEXITS = {
    64: ("5.3.0", "command line usage error"), 65: ("5.6.0", "data format error"),
    66: ("5.3.0", "cannot open input"), 67: ("5.1.1", "user unknown"),
    68: ("5.1.2", "host name unknown"), 69: ("5.3.0", "service unavailable"),
    70: ("5.3.0", "internal software error"), 71: ("4.3.0", "system resource problem"),
    72: ("5.3.0", "critical OS file missing"), 73: ("5.2.0", "can't create user output file"),
    74: ("5.3.0", "input/output error"), 75: ("4.3.0", "temporary failure"),
    76: ("5.5.0", "remote error in protocol"), 77: ("5.7.0", "permission denied"),
    78: ("5.3.5", "local configuration error"),
}


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
    if proc.returncode < 0:  # killed: whatever the cause, worth another try
        dsn, text = "4.3.0", f'Command died with signal {-proc.returncode}: "{command}"'
    elif proc.returncode in SYSEXITS:
        dsn, text = SYSEXITS[proc.returncode]
    else:
        dsn, text = "5.3.0", f'Command died with status {proc.returncode}: "{command}"'
    if output:
        text += f". Command output: {' '.join(output.split())[:200]}"
    return dsn, text


def command_env(privs: Privs, envelope: Envelope, recipient: str, original: str,
                extension: str) -> dict[str, str]:
    """The environment local(8) gives commands: who they run as, the addresses, and the
    client the message came from (empty for local submissions)."""
    local, _, domain = recipient.rpartition("@") if "@" in recipient else (recipient, "", "")
    return {"HOME": privs.home, "USER": privs.name, "LOGNAME": privs.name,
            "SHELL": privs.shell or "/bin/sh", "PATH": "/usr/bin:/bin",
            "SENDER": envelope.sender, "RECIPIENT": recipient,
            "ORIGINAL_RECIPIENT": original, "LOCAL": local, "DOMAIN": domain,
            "EXTENSION": extension, "CLIENT_ADDRESS": envelope.client_addr,
            "CLIENT_HOSTNAME": envelope.client_name, "CLIENT_HELO": envelope.helo,
            "CLIENT_PROTOCOL": envelope.protocol, "SASL_USERNAME": envelope.sasl_username}
