"""Whose privileges a delivery runs with.

The rule (documented for admins in the report/docs): when affix runs as root, anything written
inside a user's home directory (home_mailbox, .forward /file targets, |commands) is done by a
child process running with that user's uid/gid and no supplementary groups (subprocess user=,
group=, extra_groups=). Deliveries into mail_spool_directory (root-owned on a real system) are
done by affix itself: the mbox or Maildir is created for the user (fchown) and every path is
opened without following symlinks (mailbox.py). When affix is not root (tests, the embedded
default config) everything runs as the current user, in-process.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import subprocess
import sys
from dataclasses import dataclass

import affix
from affix.delivery import mailbox

_SRC = os.path.dirname(os.path.dirname(os.path.abspath(affix.__file__)))


@dataclass(frozen=True)
class Privs:
    uid: int
    gid: int
    name: str
    home: str
    shell: str = "/bin/sh"


def from_passwd(pw: pwd.struct_passwd) -> Privs:
    return Privs(pw.pw_uid, pw.pw_gid, pw.pw_name, pw.pw_dir, pw.pw_shell)


def current() -> Privs:
    try:
        return from_passwd(pwd.getpwuid(os.geteuid()))
    except KeyError:
        return Privs(os.geteuid(), os.getegid(), str(os.geteuid()), "/")


def default_privs(name: str) -> Privs:
    """default_privs (nobody), or the current user when affix is not root."""
    if os.geteuid() != 0:
        return current()
    try:
        return from_passwd(pwd.getpwnam(name))
    except KeyError:
        return Privs(65534, 65534, name, "/")


def needs_child(privs: Privs) -> bool:
    return os.geteuid() == 0 and privs.uid != 0


def owner_for(privs: Privs) -> tuple[int, int] | None:
    """Files made by a root affix for a user are given to that user."""
    return (privs.uid, privs.gid) if os.geteuid() == 0 else None


def run_file_op(privs: Privs, op: str, path: str, data: bytes, **kw: object) -> str:
    """mailbox.append_mbox (op "mbox") or mailbox.deliver_maildir (op "maildir") as privs."""
    if not needs_child(privs):
        return _do(op, path, data, kw)
    request = json.dumps({"op": op, "path": path, "kw": kw}).encode() + b"\n"
    env = {"PYTHONPATH": _SRC, "PATH": "/usr/bin:/bin", "HOME": privs.home}
    proc = subprocess.run([sys.executable, "-m", "affix.delivery.privs"], input=request + data,
                          capture_output=True, user=privs.uid, group=privs.gid, extra_groups=[],
                          env=env, cwd="/", timeout=600, check=False)
    try:
        answer = json.loads(proc.stdout.decode() or "{}")
    except ValueError:
        answer = {}
    if "ok" in answer:
        return str(answer["ok"])
    if answer.get("lock"):
        raise mailbox.LockError(answer.get("error", "lock failed"))
    code = int(answer.get("errno") or errno.EIO)
    raise OSError(code, answer.get("error") or os.strerror(code), path)


def _do(op: str, path: str, data: bytes, kw: dict) -> str:
    if op == "mbox":
        kw = dict(kw)
        kw["locks"] = tuple(kw.get("locks", ("fcntl", "dotlock")))  # type: ignore[arg-type]
        mailbox.append_mbox(path, data, **kw)  # type: ignore[arg-type]
        return path
    if op == "maildir":
        return mailbox.deliver_maildir(path, data, **kw)  # type: ignore[arg-type]
    raise ValueError(f"unknown file operation {op}")


def _child() -> int:
    """Child side of run_file_op: request line on stdin, then the data; JSON answer out."""
    raw = sys.stdin.buffer.read()
    head, _, data = raw.partition(b"\n")
    req = json.loads(head)
    try:
        result = {"ok": _do(req["op"], req["path"], data, req["kw"])}
    except mailbox.LockError as e:
        result = {"lock": True, "error": str(e)}
    except OSError as e:
        result = {"errno": e.errno, "error": e.strerror}
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_child())
