"""Submissions by users other than root: `affix sendmail` leaves the message in maildrop/ and
the server's pickup queues it, with the uid of the file's owner."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from affix.cleanup.service import Cleanup
from affix.pickup import Pickup
from affix.queue import maildrop
from affix.queue.envelope import Envelope, Recipient
from fixtures.net import free_port, wait_for
from fixtures.processes import affix_cmd, affix_env
from fixtures.qhelp import USER, maildir_files, make_config, read_log, store_for, use_log

NOBODY = 65534
RCPT = f"{USER}@example.test"


@pytest.fixture
def shared_dir():
    """A directory user nobody can reach (pytest's tmp_path is under a root-only one)."""
    path = Path(tempfile.mkdtemp(prefix="affix-maildrop-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _affix_as_nobody(config_dir: Path, message: bytes, *args: str) -> tuple[int, str]:
    """`affix ARGS` run by uid nobody: its exit code and what it wrote to stderr. Forked
    rather than exec'd: the interpreter may live where nobody cannot read (under /root), so
    the child imports what it needs, then gives up root, then runs the command."""
    from affix.cli import main as cli_main
    from affix.cli import queue, sendmail  # noqa: F401 (imported while still root)

    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stderr:
        stdin.write(message)
        stdin.seek(0)
        pid = os.fork()
        if pid == 0:  # the child
            code = 70
            try:
                os.dup2(stdin.fileno(), 0)
                os.dup2(stderr.fileno(), 2)
                sys.stdin = open(0, closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                code = cli_main.main(["-c", str(config_dir), *args])
                sys.stderr.flush()
            finally:
                os._exit(code)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        stderr.seek(0)
        return code, stderr.read().decode()


def _start_server(base: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([*affix_cmd(), "-c", str(base / "etc"), "start-fg"],
                            env=affix_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    wait_for(lambda: "daemon started" in read_log(base), 30, "the server to start")
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(30)


def test_a_user_other_than_root_submits_through_maildrop(shared_dir):
    base = shared_dir
    make_config(base, "compatibility_level = 3.7\n")
    (base / "etc" / "master.cf").write_text(f"127.0.0.1:{free_port()} inet n - n - - smtpd\n")
    server = _start_server(base)
    try:
        # as Postfix: the queue is root's, maildrop/ anyone's to write and nobody's to list
        queue = base / "queue"
        assert oct((queue / "maildrop").stat().st_mode & 0o7777) == "0o1733"
        assert oct((queue / "incoming").stat().st_mode & 0o777) == "0o700"
        sent = _affix_as_nobody(base / "etc", b"Subject: from nobody\n\nhello\n", "sendmail", RCPT)
        assert sent == (0, "")
        [delivered] = wait_for(lambda: maildir_files(base), 30, "the delivery")
    finally:
        _stop(server)
    text = delivered.read_text()
    qid = re.search(r"postfix/pickup\[\d+\]: (\w+): uid=65534 from=<nobody@mx\.example\.test>",
                    read_log(base)).group(1)
    assert f"Received: by mx.example.test (affix, from userid 65534)\n\tid {qid}; " in text
    assert "Return-Path: <nobody@mx.example.test>\n" in text and text.endswith("\nhello\n")
    assert maildrop.names(str(queue)) == ([], [])

    # with the server down, the message waits in maildrop/ and goes out when it starts
    assert _affix_as_nobody(base / "etc", b"Subject: while down\n\nlater\n", "sendmail",
                            RCPT) == (0, "")
    [waiting] = os.listdir(queue / "maildrop")
    assert os.stat(queue / "maildrop" / waiting).st_uid == NOBODY
    server = _start_server(base)
    try:
        wait_for(lambda: len(maildir_files(base)) == 2, 30, "the second delivery")
    finally:
        _stop(server)
    assert os.listdir(queue / "maildrop") == []


def test_with_worker_processes_the_master_picks_up(shared_dir):
    make_config(shared_dir, "compatibility_level = 3.7\naffix_workers = 2\n")
    (shared_dir / "etc" / "master.cf").write_text(
        f"127.0.0.1:{free_port()} inet n - n - - smtpd\n")
    server = _start_server(shared_dir)
    try:
        for n in range(3):
            assert _affix_as_nobody(shared_dir / "etc", b"Subject: %d\n\nx\n" % n,
                                    "sendmail", RCPT) == (0, "")
        wait_for(lambda: len(maildir_files(shared_dir)) == 3, 30, "three deliveries")
    finally:
        _stop(server)
    assert len(re.findall(r"postfix/pickup\[\d+\]: \w+: uid=65534 ", read_log(shared_dir))) == 3


def test_the_queue_listing_tells_nobody_it_needs_root(shared_dir):
    make_config(shared_dir)
    store_for(make_config(shared_dir)).ensure_dirs()
    code, said = _affix_as_nobody(shared_dir / "etc", b"", "queue")
    assert code == 1 and "Traceback" not in said
    assert said.startswith(f"affix: fatal: queue: cannot access {shared_dir}/queue/")
    assert said.rstrip().endswith("Permission denied (run as the user that owns it, e.g. root)")


def test_nobody_gets_a_clear_error_when_no_server_ever_made_maildrop(shared_dir):
    make_config(shared_dir)
    (shared_dir / "queue").mkdir(mode=0o755)
    (shared_dir / "queue" / "incoming").mkdir(mode=0o700)
    code, said = _affix_as_nobody(shared_dir / "etc", b"Subject: x\n\nx\n", "sendmail", RCPT)
    assert code == os.EX_TEMPFAIL
    assert "cannot leave the message in" in said and "maildrop" in said
    assert "Traceback" not in said


def _pickup(tmp_path: Path) -> tuple[Pickup, str]:
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    store = store_for(cfg)
    store.ensure_dirs()
    root = cfg.get("queue_directory")
    maildrop.ensure(root)
    return Pickup(root, lambda: (cfg, Cleanup(cfg, store))), root


def test_pickup_trusts_only_what_sendmail_options_can_set(tmp_path):
    pickup, root = _pickup(tmp_path)
    forged = Envelope("a@example.org", [Recipient(RCPT, notify="SUCCESS,BOGUS")],
                      client_name="trusted.example", client_addr="10.0.0.1", helo="x",
                      protocol="ESMTP", redirect="thief@example.org", hold="held",
                      body_type="8BITMIME", ret="HDRS")
    name = maildrop.drop(root, forged, b"Subject: forged\n\nbody\n", 0)
    os.chown(os.path.join(root, "maildrop", name), NOBODY, NOBODY)
    pickup.take_all()
    store = store_for(make_config(tmp_path))
    [qid] = store.iterate("incoming")
    env = store.read("incoming", qid).envelope
    assert (env.client_name, env.client_addr, env.redirect, env.hold) == ("", "", None, None)
    assert env.protocol == "" and [r.address for r in env.recipients] == [RCPT]
    assert env.recipients[0].notify == "" and (env.body_type, env.ret) == ("8BITMIME", "HDRS")
    assert f"{qid}: uid={NOBODY} from=<a@example.org>" in read_log(tmp_path)
    assert maildrop.names(root) == ([], [])


def test_pickup_removes_what_is_not_a_message_and_goes_on(tmp_path):
    """Whatever a user leaves there (garbage, links, directories, odd names) is removed with
    a warning that cannot forge a log line, and pickup goes on with the next file."""
    pickup, root = _pickup(tmp_path)
    drop_dir = Path(root) / "maildrop"
    env = Envelope("a@example.org", [Recipient(RCPT)])
    garbage = maildrop.drop(root, env, b"\nfirst\n", 0)
    (drop_dir / garbage).write_bytes(b"not a queue file\n")
    (tmp_path / "secret").write_text("root's\n")
    linked = maildrop.drop(root, env, b"\nsecond\n", 0)
    os.unlink(drop_dir / linked)
    os.symlink(tmp_path / "secret", drop_dir / linked)
    second_name = maildrop.drop(root, env, b"\nthird\n", 0)
    os.link(drop_dir / second_name, tmp_path / "second-name")
    (drop_dir / "0\nDec 02 05:00:00 mx postfix-smtpd[1]: forged").mkdir()
    (drop_dir / "0\nDec 02 05:00:00 mx postfix-smtpd[1]: forged" / "inside").write_text("x")
    good = maildrop.drop(root, env, b"Subject: good\n\nfourth\n", 0)
    (drop_dir / f".{good}").write_bytes(b"half")  # a live writer's unfinished file
    pickup.take_all()
    logged = read_log(tmp_path)
    assert f"maildrop/{garbage}: not an affix queue file" in logged
    assert f"maildrop/{linked}: cannot open: Too many levels of symbolic links" in logged
    assert f"maildrop/{second_name}: not a plain file with one name; removed" in logged
    assert "maildrop/0?Dec 02 05:00:00 mx postfix-smtpd[1]: forged: not a name" in logged
    assert "\nDec 02 05:00:00 mx postfix-smtpd[1]: forged" not in logged
    assert sorted(os.listdir(drop_dir)) == [f".{good}"]
    assert (tmp_path / "secret").read_text() == "root's\n"
    [qid] = store_for(make_config(tmp_path)).iterate("incoming")
    assert b"fourth" in store_for(make_config(tmp_path)).read("incoming", qid).content


def test_a_message_cleanup_defers_waits_without_holding_up_the_others(tmp_path):
    pickup, root = _pickup(tmp_path)
    (tmp_path / "header_checks").write_text("/^Subject: later/ REJECT 4.7.1 try later\n")
    cfg = make_config(tmp_path, f"header_checks = regexp:{tmp_path}/header_checks\n")
    pickup.current = lambda: (cfg, Cleanup(cfg, store_for(cfg)))
    env = Envelope("a@example.org", [Recipient(RCPT)])
    later = maildrop.drop(root, env, b"Subject: later\n\nx\n", 0)
    maildrop.drop(root, env, b"Subject: now\n\ny\n", 0)
    pickup.take_all()
    assert os.listdir(Path(root) / "maildrop") == [later]
    assert len(list(store_for(cfg).iterate("incoming"))) == 1
    assert f"maildrop/{later}: uid=0: not queued now, trying again later" in read_log(tmp_path)


def test_a_future_date_on_a_dropped_file_does_not_move_its_arrival(tmp_path):
    import time

    pickup, root = _pickup(tmp_path)
    name = maildrop.drop(root, Envelope("a@example.org", [Recipient(RCPT)]), b"\nx\n", 0)
    os.utime(Path(root) / "maildrop" / name, (4102444800, 4102444800))  # 2100
    pickup.take_all()
    store = store_for(make_config(tmp_path))
    [qid] = store.iterate("incoming")
    assert store.read("incoming", qid).envelope.arrival <= time.time()


def test_nobody_is_told_at_once_when_the_message_is_too_big(shared_dir):
    make_config(shared_dir, "message_size_limit = 1000\n")
    (shared_dir / "queue").mkdir(mode=0o755)
    maildrop.ensure(str(shared_dir / "queue"))
    code, said = _affix_as_nobody(shared_dir / "etc", b"Subject: big\n\n" + b"x" * 2000,
                                  "sendmail", RCPT)
    assert code == os.EX_DATAERR and "message file too big" in said
    assert os.listdir(shared_dir / "queue" / "maildrop") == []


def test_pickup_that_cannot_make_its_fifo_says_so_and_stays_off(tmp_path):
    import asyncio

    use_log(tmp_path)
    root = tmp_path / "queue"
    (root / "public").mkdir(parents=True)
    (root / "public" / "pickup").write_text("not a FIFO")

    async def start() -> None:
        # its config and cleanup are never asked for: it does not start
        pickup = Pickup(str(root), lambda: (None, None))  # type: ignore[arg-type,return-value]
        pickup.start()
        await pickup.stop()

    asyncio.run(start())  # the server goes on: root's submissions do not need pickup
    assert (root / "public" / "pickup").read_text() == "not a FIFO"
    assert "warning: submissions by users other than root are off: maildrop/: " in \
        read_log(tmp_path)


def test_a_file_pickup_cannot_open_now_waits_for_the_next_look(tmp_path, monkeypatch):
    """No file descriptor left (EMFILE) is the system's trouble, not the file's: pickup says
    so, keeps the file and ends this look; the next look queues it. The fault is injected
    (a process cannot run out of descriptors between two calls on cue)."""
    import errno

    pickup, root = _pickup(tmp_path)
    name = maildrop.drop(root, Envelope("a@example.org", [Recipient(RCPT)]), b"\nx\n", 0)
    real_open = os.open

    def out_of_descriptors(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if str(path).endswith(f"maildrop/{name}"):
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", out_of_descriptors)
    pickup.take_all()
    monkeypatch.setattr(os, "open", real_open)
    store = store_for(make_config(tmp_path))
    assert os.listdir(Path(root) / "maildrop") == [name]
    assert list(store.iterate("incoming")) == []
    assert (f"warning: maildrop/{name}: Too many open files; trying again later"
            in read_log(tmp_path))
    pickup.take_all()
    assert os.listdir(Path(root) / "maildrop") == [] and len(list(store.iterate("incoming"))) == 1


def test_a_queued_file_that_cannot_be_removed_is_not_queued_twice(tmp_path):
    pickup, root = _pickup(tmp_path)
    name = maildrop.drop(root, Envelope("a@example.org", [Recipient(RCPT)]), b"\nonce\n", 0)
    path = Path(root) / "maildrop" / name
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable files (chattr +i)")
    try:
        pickup.take_all()
        pickup.take_all()  # the next look (a poke, the minute's timer) leaves it alone
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    assert os.listdir(Path(root) / "maildrop") == [name]
    [qid] = store_for(make_config(tmp_path)).iterate("incoming")
    logged = read_log(tmp_path)
    assert f"{qid}: uid=0 from=<a@example.org>" in logged
    assert logged.count(f"warning: maildrop/{name}: cannot remove: Operation not permitted") == 1
