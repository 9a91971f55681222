"""The server's lifecycle driven as an admin would: check, start, status, reload, stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time

import pytest
from cli_instance import Instance

from affix import __version__
from fixtures.net import free_port, port_free, wait_for
from fixtures.processes import affix_cmd, affix_env


class Session:
    """A raw SMTP client: only the 220 greeting, EHLO and QUIT are relied upon."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def reply(self) -> str:
        lines = []
        while True:
            line = self.file.readline().decode()
            lines.append(line.rstrip("\r\n"))
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    def command(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.file.close()
        self.sock.close()


def greeting(port: int) -> str | None:
    try:
        s = Session(port)
    except OSError:
        return None
    s.close()
    return s.greeting


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def instance(tmp_path, affix):
    inst = Instance(tmp_path, affix)
    yield inst
    if inst.pid() is not None:
        inst.affix("-c", str(inst.dir), "stop")
    pid = inst.pid()
    if pid is not None:  # stop failed: do not leave a server behind
        os.kill(pid, signal.SIGKILL)


def test_start_answers_reports_status_refuses_second_start_and_stops(instance):
    assert instance.run("start").returncode == 0
    status = instance.run("status")
    assert status.returncode == 0 and "is running" in status.stderr
    s = Session(instance.port)
    assert s.greeting.startswith("220 ") and s.greeting.endswith("ESMTP first")
    assert s.command("EHLO client.example").startswith("250")
    assert s.command("QUIT").startswith("221")
    s.close()
    again = instance.run("start")
    assert again.returncode == 1 and "already running" in again.stderr
    assert instance.run("stop").returncode == 0
    status = instance.run("status")
    assert status.returncode == 1 and "not running" in status.stderr
    assert refused(instance.port)
    assert "postfix/master[" in instance.maillog
    assert (f"daemon started -- version {__version__}, configuration {instance.dir}"
            in instance.maillog)


def test_start_logs_config_warnings_in_the_mail_log(instance):
    instance.write_main("smtpd_helo_requierd = yes")
    assert instance.run("start").returncode == 0
    assert (f"postfix/master[{instance.pid()}]: warning: {instance.dir}/main.cf, line 5: "
            "unused parameter: smtpd_helo_requierd=yes (did you mean smtpd_helo_required?)"
            in instance.maillog)


def test_reload_serves_new_banner_while_an_open_session_keeps_working(instance):
    assert instance.run("start").returncode == 0
    old = Session(instance.port)
    instance.write_main("smtpd_banner = $myhostname ESMTP second")
    assert instance.run("reload").returncode == 0
    wait_for(lambda: (greeting(instance.port) or "").endswith("ESMTP second"))
    assert old.greeting.endswith("ESMTP first")
    assert old.command("EHLO client.example").startswith("250")
    assert old.command("QUIT").startswith("221")
    old.close()
    assert f"reload -- version {__version__}, configuration {instance.dir}" in instance.maillog


def test_reload_with_a_bad_value_is_refused_and_the_old_config_stays(instance):
    assert instance.run("start").returncode == 0
    instance.write_main("smtpd_banner = changed", "smtpd_helo_required = perhaps")
    done = instance.run("reload")
    assert done.returncode == 1
    assert (f"{instance.dir}/main.cf:6: bad boolean configuration: "
            "smtpd_helo_required = perhaps") in done.stderr
    os.kill(instance.pid(), signal.SIGHUP)  # the server checks again on its own
    wait_for(lambda: "reload refused" in instance.maillog)
    assert f"{instance.dir}/main.cf:6: bad boolean configuration" in instance.maillog
    assert greeting(instance.port).endswith("ESMTP first")
    assert instance.run("status").returncode == 0
    assert "the running configuration stays in service" in done.stderr
    assert instance.run("stop").returncode == 0
    stopped = instance.run("reload")  # nothing runs: no word of a configuration in service
    assert stopped.returncode == 1
    assert "reload refused (the mail system is not running either)" in stopped.stderr


def test_a_reload_with_a_misspelt_tls_level_is_refused_and_sessions_still_get_a_greeting(
        instance):
    """A value only smtpd sessions read used to pass the check and leave every new
    connection without a greeting."""
    assert instance.run("start").returncode == 0
    instance.write_main("smtpd_banner = changed", "smtpd_tls_security_level = encrpyt")
    done = instance.run("reload")
    assert done.returncode == 1
    assert 'unknown smtpd_tls_security_level value "encrpyt"' in done.stderr
    os.kill(instance.pid(), signal.SIGHUP)
    wait_for(lambda: "reload refused" in instance.maillog)
    assert greeting(instance.port).endswith("ESMTP first")


def test_reload_opens_new_listeners_and_closes_removed_ones(instance):
    assert instance.run("start").returncode == 0
    second = free_port()
    instance.write_master(f"127.0.0.1:{second} inet n - n - - smtpd")
    assert instance.run("reload").returncode == 0
    assert wait_for(lambda: greeting(second)).startswith("220 ")
    wait_for(lambda: refused(instance.port))


def test_check_prints_every_bad_value_as_file_line_and_exits_1(instance):
    instance.write_main("smtpd_helo_required = maybe", "message_size_limit = 10m",
                        "smtpd_timeout = 5x")
    done = instance.run("check")
    main_cf = f"{instance.dir}/main.cf"
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{main_cf}:5: bad boolean configuration: smtpd_helo_required = maybe",
        f"{main_cf}:6: bad numerical configuration: message_size_limit = 10m",
        f"{main_cf}:7: parameter smtpd_timeout: bad time value or unit: 5x",
    ]


def test_check_reports_syntax_errors_in_both_files(instance):
    (instance.dir / "main.cf").write_text("a = 1\n//text\n")
    instance.write_master("# services", "smtp inet n - n - smtpd")
    done = instance.run("check")
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{instance.dir}/main.cf:2: missing '=' after attribute name: \"//text\"",
        f'{instance.dir}/master.cf:2: bad field count (7 of 8) in "smtp inet n - n - smtpd"',
    ]


def test_check_passes_with_warnings_for_unknown_names_and_skipped_services(instance):
    instance.write_main("smtpd_helo_requierd = yes")
    instance.write_master(f"127.0.0.1:{instance.port} inet n - n - - smtpd",
                          "maildrop unix - n n - - pipe flags=DRhu argv=/usr/bin/maildrop")
    done = instance.run("check")
    assert done.returncode == 0
    assert (f"{instance.dir}/main.cf:5: warning: unused parameter: smtpd_helo_requierd=yes "
            "(did you mean smtpd_helo_required?)") in done.stdout
    assert f"{instance.dir}/master.cf:2: warning: service maildrop" in done.stdout


def test_check_reports_bad_override_with_the_master_cf_line(instance):
    instance.write_master("# x", f"127.0.0.1:{instance.port} inet n - n - - smtpd",
                          "  -o smtpd_timeout=never")
    done = instance.run("check")
    assert done.returncode == 1
    assert done.stdout.strip() == (f"{instance.dir}/master.cf:2: parameter smtpd_timeout: "
                                   "bad time value or unit: never")


def test_start_with_a_bad_config_prints_file_line_and_exits_1(instance):
    instance.write_main("smtpd_timeout = 5x")
    done = instance.run("start")
    assert done.returncode == 1
    assert f"{instance.dir}/main.cf:5: parameter smtpd_timeout: bad time value" in done.stderr
    assert instance.run("status").returncode == 1


def test_start_on_a_busy_port_fails_with_a_reason(instance):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", instance.port))
        busy.listen()
        done = instance.run("start")
    assert done.returncode == 1
    assert f"{instance.dir}/master.cf:1: service 127.0.0.1:{instance.port}: cannot listen" \
        in done.stderr
    assert instance.run("status").returncode == 1


@pytest.mark.skipif(os.path.exists("/etc/affix/main.cf"), reason="/etc/affix is configured")
def test_start_fg_without_any_config_dir_answers_on_2525(tmp_path):
    if not port_free(2525):
        pytest.skip("127.0.0.1:2525 is in use")
    env = affix_env(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "xdg"))
    proc = subprocess.Popen(affix_cmd("start-fg"), env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        banner = wait_for(lambda: proc.poll() is None and greeting(2525))
        assert banner.startswith("220 ") and banner.endswith(" ESMTP affix")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "postfix/master[" in err and "daemon started" in err and "(built-in)" in err
    assert "terminating on signal 15" in err
    assert (tmp_path / "xdg" / "affix" / "queue").is_dir()


def test_started_server_queues_mail_and_its_queue_manager_picks_it_up(instance):
    instance.write_main("local_recipient_maps =", "alias_maps =",
                        f"mail_spool_directory = {instance.data}/mail/")
    assert instance.run("start").returncode == 0
    s = Session(instance.port)
    s.command("EHLO client.example")
    assert s.command("MAIL FROM:<sender@example.org>").startswith("250")
    assert s.command("RCPT TO:<root@localhost>").startswith("250")
    assert s.command("DATA").startswith("354")
    reply = s.command("Subject: hello\r\n\r\nbody\r\n.")
    assert reply.startswith("250 2.0.0 Ok: queued as ")
    qid = reply.rsplit(" ", 1)[1]
    s.command("QUIT")
    s.close()
    assert f"{qid}: client=" in instance.maillog
    wait_for(lambda: f"{qid}: from=<sender@example.org>" in instance.maillog)
    os.kill(instance.pid(), signal.SIGUSR1)  # `affix flush` pokes the queue manager this way
    assert instance.run("status").returncode == 0


def test_check_enforces_the_relay_restriction_rule(instance):
    (instance.dir / "main.cf").write_text(
        f"queue_directory = {instance.data}/q\ndata_directory = {instance.data}\n")
    done = instance.run("check")
    assert done.returncode == 1
    assert "specify at least one working instance of: reject_unauth_destination" in done.stdout
    assert "set compatibility_level = 3.7 for the current defaults" in done.stdout


def test_new_mail_and_reloads_do_not_cut_short_a_deferred_messages_backoff(instance, tmp_path):
    """sendmail (and release/requeue) wake the queue manager for new mail only, and a reload
    or a restart retries only what is due: a deferred message waits out its backoff until
    `affix flush` asks for a retry now."""
    aliases = tmp_path / "aliases"
    aliases.write_text('later: "|exit 75"\n')
    instance.write_main("local_recipient_maps =", f"alias_maps = hash:{aliases}",
                        f"alias_database = hash:{aliases}",
                        f"mail_spool_directory = {instance.data}/mail/")
    assert instance.run("newaliases").returncode == 0
    assert instance.run("start").returncode == 0
    config = ("-c", str(instance.dir))

    def submit(rcpt: str) -> None:
        done = instance.affix(*config, "sendmail", "-f", "s@example.org", rcpt,
                              input=f"Subject: to {rcpt}\n\nbody\n")
        assert done.returncode == 0, done.stderr

    def attempts(rcpt: str) -> int:
        return instance.maillog.count(f"orig_to=<{rcpt}>")

    submit("later")
    wait_for(lambda: attempts("later") == 1)
    submit("root")
    wait_for(lambda: "to=<root@" in instance.maillog and "status=sent" in instance.maillog)
    assert attempts("later") == 1
    assert instance.run("reload").returncode == 0
    assert instance.run("stop").returncode == 0
    assert instance.run("start").returncode == 0
    submit("root")  # delivered after the queue manager's first pass over deferred
    wait_for(lambda: instance.maillog.count("status=sent") == 2)
    assert attempts("later") == 1
    assert instance.run("flush").returncode == 0
    wait_for(lambda: attempts("later") == 2)


def test_a_postfix_queue_directory_is_refused_and_left_alone(instance):
    """A main.cf copied from Postfix may name Postfix's queue: affix must not treat its files
    (an incomplete one would be removed, the others moved to corrupt)."""
    queue = instance.data / "queue"
    for name in ("maildrop", "private", "public", "pid", "incoming"):
        (queue / name).mkdir(parents=True)
    postfix_file = queue / "incoming" / "4F2A81C0D3"
    postfix_file.write_bytes(b"C                 123              45  1 0  123  0\n")
    postfix_file.chmod(0o600)  # as Postfix's cleanup leaves a file it is still writing
    checked = instance.run("check")
    assert checked.returncode == 1
    assert (f"queue_directory = {queue} is Postfix's queue (it has private/ and pid/)"
            in checked.stdout + checked.stderr)
    assert instance.run("start").returncode == 1
    assert postfix_file.exists()
    assert not (queue / "corrupt").exists()


def test_a_rebuilt_table_is_reopened_and_logged_as_smtpds(instance, tmp_path):
    """fail2ban and logwatch patterns know postfix/smtpd, not a program called affix."""
    clients = tmp_path / "clients"
    clients.write_text("192.0.2.1 REJECT\n")
    assert instance.affix("map", f"hash:{clients}").returncode == 0
    instance.write_main(f"smtpd_client_restrictions = check_client_access hash:{clients}")
    assert instance.run("start").returncode == 0

    def rcpt() -> None:  # a session whose client restrictions look in the table
        s = Session(instance.port)
        s.command("EHLO client.example")
        s.command("MAIL FROM:<a@example.org>")
        s.command("RCPT TO:<root@localhost>")
        s.close()

    rcpt()
    time.sleep(1.1)  # a table is looked at again at most once a second
    clients.write_text("192.0.2.2 REJECT\n")
    assert instance.affix("map", f"hash:{clients}").returncode == 0
    rcpt()
    wait_for(lambda: "has changed -- reopening" in instance.maillog)
    assert re.search(rf"postfix/smtpd\[\d+\]: table hash:{clients} has changed -- reopening",
                     instance.maillog)


def test_the_queue_layout_is_made_before_the_server_says_it_started(tmp_path):
    """run_server makes it before it listens: a sendmail or a queue tool run right after
    `daemon started` finds every queue directory (the queue manager's first turn made
    incoming/ a moment later once, and a test saw the gap)."""
    from affix.daemon import make_directories
    from affix.queue.store import QUEUES
    from fixtures.qhelp import make_config

    cfg = make_config(tmp_path)
    make_directories(cfg)
    queue = tmp_path / "queue"
    assert all((queue / name).is_dir() for name in QUEUES)
    assert oct((queue / "incoming").stat().st_mode & 0o777) == "0o700"
