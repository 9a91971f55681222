"""`affix [-c DIR] start-fg | start | stop | reload | status | check`."""

from __future__ import annotations

import os
import signal
import sys
import time

from affix.check import Checked, ConfigProblems, check_config, lint_hint
from affix.config.errors import ConfigError
from affix.config.snapshot import load_config
from affix.daemon import pid_path, run_server, running_pid


def run(ctx, args: list[str]) -> int:
    if args:
        sys.stderr.write(f"affix {ctx.verb}: unexpected argument {args[0]!r}\n")
        return 2
    verbs = {"start-fg": start_fg, "start": start, "stop": stop, "reload": reload,
             "status": status, "check": check}
    return verbs[ctx.verb](ctx.config_dir)


def say(text: str) -> None:
    sys.stderr.write(f"affix: {text}\n")


def checked_or_report(config_dir: str | None, out=sys.stderr) -> Checked | None:
    """Check the configuration; print every problem as `file:line: what is wrong`."""
    try:
        return check_config(config_dir)
    except ConfigProblems as e:
        for problem in [*e.problems, *e.warnings]:
            out.write(f"{problem}\n")
    except ConfigError as e:
        out.write(f"{e}\n")
    return None


def _pid_file(config_dir: str | None) -> str:
    return pid_path(load_config(config_dir))


# --- verbs ----------------------------------------------------------------------------------

def check(config_dir: str | None) -> int:
    checked = checked_or_report(config_dir, sys.stdout)
    if checked is None:
        return 1
    for warning in checked.warnings:
        sys.stdout.write(f"{warning}\n")
    sys.stdout.write("".join(f"{hint}\n" for hint in [lint_hint(config_dir)] if hint))
    return 0


def _refuse_second_start(checked: Checked) -> bool:
    pid = running_pid(pid_path(checked.cfg))
    if pid is not None:
        say(f"the mail system is already running (pid {pid})")
        return True
    return False


def start_fg(config_dir: str | None) -> int:
    checked = checked_or_report(config_dir)
    if checked is None or _refuse_second_start(checked):
        return 1

    def ready(message: str) -> None:
        if message != "ok":
            say(message)

    return run_server(config_dir, checked, foreground=True, ready=ready)


def start(config_dir: str | None) -> int:
    """Check, then daemonize (double fork, setsid, stdio to /dev/null); the parent waits for
    the server to report that it listens (or why it cannot) before it exits."""
    checked = checked_or_report(config_dir)
    if checked is None or _refuse_second_start(checked):
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            message = pipe.read().decode("utf-8", "replace").strip()
        if message == "ok":
            return 0
        say(message or "the server exited during start-up")
        return 1
    os.close(read_end)
    _become_daemon()
    code = 1
    try:
        code = run_server(config_dir, checked, foreground=False,
                          ready=lambda message: _notify(write_end, message))
    finally:
        os._exit(code)


def _become_daemon() -> None:
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)


def _notify(fd: int, message: str) -> None:
    try:
        os.write(fd, message.encode("utf-8", "replace"))
        os.close(fd)
    except OSError:
        pass


def status(config_dir: str | None) -> int:
    pid = running_pid(_pid_file(config_dir))
    if pid is None:
        say("the mail system is not running")
        return 1
    say(f"the mail system is running: PID: {pid}")
    return 0


def _signal(config_dir: str | None, signum: int) -> int | None:
    pid = running_pid(_pid_file(config_dir))
    if pid is None or pid <= 0:
        say("the mail system is not running")
        return None
    os.kill(pid, signum)
    return pid


def reload(config_dir: str | None) -> int:
    """Refuse a bad configuration here already; the server checks it again on SIGHUP."""
    if checked_or_report(config_dir) is None:
        try:
            running = running_pid(_pid_file(config_dir)) is not None
        except ConfigError:  # main.cf does not even parse: data_directory is unknown
            running = False
        say("reload refused; the running configuration stays in service" if running
            else "reload refused (the mail system is not running either)")
        return 1
    if _signal(config_dir, signal.SIGHUP) is None:
        return 1
    say("refreshing the mail system")
    return 0


def stop(config_dir: str | None) -> int:
    """SIGTERM, then wait until the server has let its sessions finish and exited."""
    cfg = load_config(config_dir)
    if _signal(config_dir, signal.SIGTERM) is None:
        return 1
    say("stopping the mail system")
    deadline = time.monotonic() + cfg.time("affix_stop_grace_time") + 10
    while time.monotonic() < deadline:
        if running_pid(pid_path(cfg)) is None:
            return 0
        time.sleep(0.05)
    say("the mail system did not stop in time")
    return 1
