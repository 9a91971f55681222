"""Pieces the benchmarks share: ports, Postfix's smtp-source as the driver, and what a server
process costs (CPU and memory from /proc, for one process or a whole process tree)."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import time

from tests.fixtures.net import free_port  # noqa: F401 - the tests' one copy, for the benchmarks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the affix under test; AFFIX_BENCH_SRC points the servers at another tree (e.g. an older
# commit unpacked with `git archive`) to compare before and after in one run of the same bench
SRC = os.environ.get("AFFIX_BENCH_SRC") or os.path.join(ROOT, "src")
TICK = os.sysconf("SC_CLK_TCK")


def bench_env() -> dict[str, str]:
    """Environment for subprocesses that import affix and bench from this checkout."""
    return dict(os.environ, PYTHONPATH=SRC + os.pathsep + ROOT)


@functools.cache
def compile_affix() -> None:
    """Byte-compile the affix under test (its __pycache__, which git ignores), as installing it
    does. With PYTHONDONTWRITEBYTECODE set, as on the development machines, every server and
    command would otherwise compile affix's sources at start: time and memory (~1 MB per
    server) that an installed affix does not spend."""
    import compileall

    compileall.compile_dir(SRC, quiet=1)


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def smtp_source(port: int, msgs: int, conc: int, *, size: int = 1024, reuse: bool = False,
                sender: str = "a@example.org", rcpt: str = "b@example.jp",
                helo: str = "client.example", timeout: float = 600) -> float:
    """Run Postfix's smtp-source; returns its wall-clock seconds. One message per connection
    unless `reuse` (-d)."""
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    args = [source, "-s", str(conc), "-m", str(msgs), "-l", str(size), "-f", sender,
            "-t", rcpt, "-M", helo]
    if reuse:
        args.append("-d")
    start = time.perf_counter()
    subprocess.run([*args, f"127.0.0.1:{port}"], check=True, stdout=subprocess.DEVNULL,
                   timeout=timeout)
    return time.perf_counter() - start


# --- process costs ----------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()  # the name may contain spaces


def cpu_seconds(pid: int, tree: bool = False) -> float:
    """utime + stime of a process; with `tree`, also of its live descendants and of the
    children it has already reaped (cutime + cstime), so short-lived workers are counted."""
    fields = _stat_fields(pid)
    total = int(fields[11]) + int(fields[12])
    if tree:
        total += int(fields[13]) + int(fields[14])
        for child in descendants(pid):
            try:
                f = _stat_fields(child)
            except OSError:
                continue  # exited meanwhile; its time is in an ancestor's cutime by now
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / TICK


def descendants(pid: int) -> list[int]:
    """Live descendants of pid (from the ppid field of every /proc/N/stat)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(name))[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def memory_mb(pid: int) -> dict[str, float]:
    """RSS, PSS and USS (private clean + dirty) in MB, from /proc/PID/smaps_rollup."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                values[parts[0].rstrip(":")] = int(parts[1])
    uss = values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)
    return {"rss": values.get("Rss", 0) / 1024, "pss": values.get("Pss", 0) / 1024,
            "uss": uss / 1024}


def log(text: str) -> None:
    """Progress on stderr (stdout carries results)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
