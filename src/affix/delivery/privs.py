"""Whose privileges a delivery runs with.

When affix runs as root, anything written inside a user's home directory (home_mailbox,
.forward and alias /file targets, |commands) is done with that user's uid/gid and no
supplementary groups: files by a forked child that drops privileges, commands through
subprocess user=/group=/extra_groups=. Deliveries into mail_spool_directory (root-owned on a
real system) are done by affix itself: the mbox or Maildir is created for the user (fchown)
and every path is opened without following symlinks (mailbox.py). When affix is not root
(tests, the embedded default config) everything runs as the current user, in-process.
"""

from __future__ import annotations

import errno
import os
import pwd
from dataclasses import dataclass

from affix.delivery import mailbox


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
    euid = os.geteuid()
    cached = _current
    if cached and cached[0].uid == euid:
        return cached[0]
    try:
        privs = from_passwd(pwd.getpwuid(euid))
    except KeyError:
        privs = Privs(euid, os.getegid(), str(euid), "/")
    _current[:] = [privs]  # an explicit cache: the process's own user does not change
    return privs


_current: list[Privs] = []


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
    """mailbox.append_mbox (op "mbox") or mailbox.deliver_maildir (op "maildir") as privs.

    With another user's privileges the work is done in a forked child that drops to that
    user's uid/gid (no supplementary groups) and reports back over a pipe; forking (rather
    than starting an interpreter) works whatever the interpreter's location and permissions.
    """
    if not needs_child(privs):
        return _do(op, path, data, kw)
    import json  # the child's answer; only deliveries with other privileges need it

    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into the caller's code
        status = 0
        try:
            # nothing of the parent's but the pipe: a copy of a queue file's descriptor
            # would keep its claim (store.claim) alive after the parent let it go
            os.closerange(3, wfd)
            os.closerange(wfd + 1, os.sysconf("SC_OPEN_MAX"))
            os.setgroups([])
            os.setgid(privs.gid)
            os.setuid(privs.uid)
            answer = _answer(op, path, data, kw)
            os.write(wfd, json.dumps(answer).encode())
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as pipe:
        raw = pipe.read()
    os.waitpid(pid, 0)
    try:
        answer = json.loads(raw.decode() or "{}")
    except ValueError:
        answer = {}
    if "ok" in answer:
        return str(answer["ok"])
    if answer.get("lock"):
        raise mailbox.LockError(answer.get("error", "lock failed"))
    code = int(answer.get("errno") or errno.EIO)
    raise OSError(code, answer.get("error") or os.strerror(code), path)


def _answer(op: str, path: str, data: bytes, kw: dict) -> dict:
    try:
        return {"ok": _do(op, path, data, kw)}
    except mailbox.LockError as e:
        return {"lock": True, "error": str(e)}
    except OSError as e:
        return {"errno": e.errno, "error": e.strerror}


def _do(op: str, path: str, data: bytes, kw: dict) -> str:
    if op == "mbox":
        mailbox.append_mbox(path, data, **kw)  # type: ignore[arg-type]
        return path
    if op == "maildir":
        return mailbox.deliver_maildir(path, data, **kw)  # type: ignore[arg-type]
    raise ValueError(f"unknown file operation {op}")
