"""smtpd throughput and footprint against aiosmtpd and Postfix's smtp-sink, same run, same box.

Driver: Postfix's `smtp-source` (1 KB messages), either a new connection per message or `-d`
(reuse the connection), at concurrency 1, 10 and 50. Each server runs in its own process:
- affix: SmtpService on uvloop, the seed memo's restrictions (tests/fixtures/memo/main-fixed.cf,
  its tables compiled, DNS answered by the tests' fixture), a real cleanup and queue store on tmpfs
  (/dev/shm: every 250 follows its fsync, which costs nothing there; no queue manager runs),
  mail log written to a file;
- affix w=2: two affix server processes sharing the port (SO_REUSEPORT, as affix_workers = 2);
- aiosmtpd: its SMTP protocol with the Sink handler on uvloop (as the issue's reference);
- smtp-sink: Postfix's C test server (a ceiling, not a target);
- canned: a fixed reply per line on uvloop (bench/smtpd_serve.py's CannedReplies): what Python
  and the event loop cost on this box before any server does any work. The gap between it and
  aiosmtpd is aiosmtpd's own work; affix's must fit in that gap minus a third for the target.
Rows: messages per second (ratio affix/aiosmtpd, target >= 1.5), server CPU ms per message
(from /proc/PID/stat), and memory with 500 idle sessions open, after the workloads: RSS, and
PSS and USS from /proc/PID/smaps_rollup (shared library pages split among the processes that
map them / not counted). The 25 MB target is PSS: the issue sets it beside Postfix's ~660 MB
for 500 idle sessions, a figure only PSS reproduces (bench/e2e.py measures it).

Compiling affix's per-message modules (smtpd, policy, cleanup, queue, tables, log) with mypyc
was measured with this bench, runs interleaved (pure, compiled, pure, compiled, pure): affix's
CPU per message, read against aiosmtpd's in the same run, showed no consistent change (per
workload 0.6x to 1.7x the pure build's, in both directions); one server at a time, builds
alternating over 8 rounds, the median fell 4-9%. For that, every install compiled for almost
4 minutes and the PSS of 500 idle sessions rose over the 25 MB target. The time goes to the
event loop, the standard library's C calls and the system calls rather than to affix's own
bytecode, so the hot path stays plain Python and installing needs no compiler.

The server processes are bench/smtpd_serve.py (`python -m bench.smtpd_serve affix|aiosmtpd DIR
PORT`; PORT 0: a free one, printed; else join the affix processes already on it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from bench import common

WORKLOADS = [("new conn", False, 1), ("new conn", False, 10), ("new conn", False, 50),
             ("reuse conn", True, 1), ("reuse conn", True, 10), ("reuse conn", True, 50)]
DEFAULT_N = 3000  # messages per workload and run
IDLE_SESSIONS = 500
_TMPFS = "/dev/shm"
RCPT = "kororo@kororo.jp"  # the memo's user, in local_recipient_maps


# --- the server processes (bench/smtpd_serve.py) ------------------------------------------

class ServerProcess:
    """One server under test: `affix`, `affix w=2` (two affix processes sharing the port, as
    with affix_workers = 2), `aiosmtpd` or `smtp-sink`. CPU and memory are summed over its
    processes."""

    def __init__(self, kind: str, workdir: str):
        self.kind = kind
        if kind == "smtp-sink":
            self.port = common.free_port()
            sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
            user = ["-u", "nobody"] if os.getuid() == 0 else []
            self.procs = [subprocess.Popen([sink, *user, "-c", f"127.0.0.1:{self.port}", "1024"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
            common.wait_port(self.port)
            return
        program = kind if kind in ("aiosmtpd", "canned") else "affix"
        self.procs = [self._start(program, workdir, 0)]
        if kind == "affix w=2":
            self.procs.append(self._start(program, workdir, self.port))

    def _start(self, program: str, workdir: str, port: int) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.smtpd_serve", program, workdir, str(port)],
            stdout=subprocess.PIPE, text=True, env=common.bench_env(), cwd=common.ROOT)
        assert proc.stdout is not None
        self.port = int(proc.stdout.readline())
        return proc

    def cpu_seconds(self) -> float:
        return sum(common.cpu_seconds(p.pid) for p in self.procs)

    def memory_mb(self) -> dict[str, float]:
        each = [common.memory_mb(p.pid) for p in self.procs]
        return {key: sum(m[key] for m in each) for key in each[0]}

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(10)


# --- measurements ---------------------------------------------------------------------------

def _memo_config(workdir: str, queue: str):  # noqa: ANN202 - the tests' DnsServer
    """affix runs the seed memo's restrictions in their working form (as bench/e2e.py does):
    its tables compiled, the sender domain answered by the tests' DNS fixture."""
    from tests.fixtures.dnsserver import DnsServer

    from bench.e2e import memo_main_cf, memo_tables

    dns = DnsServer().start()
    dns.add("example.org", "MX", "10 mail.example.org.")
    dns.add("mail.example.org", "A", "192.0.2.25")
    host, port = dns.address
    extra = {"queue_directory": queue, "affix_dns_servers": f"{host}:{port}",
             "mynetworks": "127.0.0.0/8"}  # also exempts smtp-source from the connection limit
    with open(os.path.join(workdir, "main.cf"), "w") as f:
        f.write(memo_main_cf(memo_tables(workdir), workdir, extra))
    return dns


def _smtp_source(port: int, msgs: int, conc: int, reuse: bool) -> float:
    """Messages per second, wall clock, for one smtp-source run (to the memo's local user)."""
    return msgs / common.smtp_source(port, msgs, conc, reuse=reuse, rcpt=RCPT)


def _idle_memory(server: ServerProcess, sessions: int) -> dict[str, float]:
    """RSS, PSS and USS in MB while `sessions` clients sit idle after EHLO."""
    socks = []
    try:
        for _ in range(sessions):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.recv(4096)
            s.sendall(b"EHLO client.example\r\n")
            socks.append(s)
        for s in socks:
            s.recv(4096)
        time.sleep(0.5)
        return server.memory_mb()
    finally:
        for s in socks:
            s.close()


def _footprint(server: ServerProcess) -> dict[str, float]:
    """Measured after the workloads: a server that has handled mail holds what it loaded for
    it (affix: the DNS resolver, the tables), as a server in service does."""
    out: dict[str, float] = {}
    _idle_memory(server, 10)  # warm up: first sessions allocate the lasting structures
    before = server.memory_mb()
    out["rss after the workloads (MB)"] = before["rss"]
    try:
        idle = _idle_memory(server, IDLE_SESSIONS)
    except OSError:  # smtp-sink stops answering at 256 sessions
        idle = {k: float("nan") for k in before}
    out[f"rss with {IDLE_SESSIONS} idle sessions (MB)"] = idle["rss"]
    out[f"pss with {IDLE_SESSIONS} idle sessions (MB)"] = idle["pss"]
    out[f"uss with {IDLE_SESSIONS} idle sessions (MB)"] = idle["uss"]
    out[f"rss added by {IDLE_SESSIONS} idle sessions (MB)"] = idle["rss"] - before["rss"]
    return out


# what a process holds before any server code: the interpreter with this machine's site hooks,
# and the libraries every asyncio DNS-checking server here loads (asyncio brings ssl; dnspython
# brings importlib.metadata)
_FLOORS = {"python -c pass": "pass",
           "python + asyncio, uvloop, dnspython": "import asyncio, uvloop, dns.asyncresolver"}


def _floor_mb(code: str) -> float:
    proc = subprocess.Popen([sys.executable, "-c", f"{code}\nimport sys\nprint(1, flush=True)\n"
                             "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=common.bench_env())
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        return common.memory_mb(proc.pid)["rss"]
    finally:
        proc.kill()
        proc.wait()


def _workload(server: ServerProcess, msgs: int, reuse: bool, conc: int) -> tuple[float, float]:
    """(messages per second, server CPU ms per message)."""
    cpu0 = server.cpu_seconds()
    rate = _smtp_source(server.port, msgs, conc, reuse)
    return rate, (server.cpu_seconds() - cpu0) * 1000 / msgs


def _measure_all(kinds: list[str], msgs: int, repeat: int) -> dict[str, dict[str, float]]:
    """All servers run side by side (idle when not driven); workloads are interleaved and the
    best of `repeat` runs is kept, so load from other processes hits every server alike."""
    # issue 4 compares the SMTP layer: affix's queue lives on tmpfs, where its fsyncs cost
    # nothing (bench/e2e.py measures the whole path on a real disk)
    tmpfs = _TMPFS if os.path.isdir(_TMPFS) else None
    with tempfile.TemporaryDirectory() as workdir, tempfile.TemporaryDirectory(dir=tmpfs) as q:
        dns = _memo_config(workdir, q)
        servers = {kind: ServerProcess(kind, workdir) for kind in kinds}
        try:
            out: dict[str, dict[str, float]] = {kind: {} for kind in servers}
            for server in servers.values():
                _smtp_source(server.port, 200, 10, False)  # warm up
            for label, reuse, conc in WORKLOADS:
                for kind, server in servers.items():
                    runs = [_workload(server, msgs, reuse, conc) for _ in range(repeat)]
                    out[kind][f"msgs/s {label} c={conc}"] = max(r for r, _ in runs)
                    out[kind][f"cpu ms/msg {label} c={conc}"] = min(c for _, c in runs)
            for kind, server in servers.items():
                out[kind].update(_footprint(server))
            return out
        finally:
            for server in servers.values():
                server.stop()
            dns.stop()


def run(n: int | None = None) -> list:
    from bench.run import Row

    msgs = n or DEFAULT_N
    common.compile_affix()
    kinds = ["affix", "affix w=2", "aiosmtpd", "smtp-sink", "canned"]
    results = _measure_all(kinds, msgs, repeat=3)
    print(f"\nsmtpd (best of 3): {' | '.join(kinds)}")
    for key in results["affix"]:
        print(f"  {key:38}" + "".join(f" {results[k][key]:10.2f}" for k in kinds))
    print()
    aio = results["aiosmtpd"]
    rows = [Row(f"smtpd {key} (vs aiosmtpd{'; target <= 25 MB' if key.startswith('pss') else ''})",
                value, aio[key]) for key, value in results["affix"].items()]
    # two processes: the rates and CPU (memory is per process, in the rows above)
    rows += [Row(f"smtpd affix w=2 {key} (vs aiosmtpd)", value, aio[key])
             for key, value in results["affix w=2"].items() if "/" in key]
    rows += [Row(f"smtpd canned replies {key} (vs aiosmtpd)", value, aio[key])
             for key, value in results["canned"].items() if "/" in key]
    rows += [Row(f"smtpd floor: rss of {name} (MB)", _floor_mb(code), None)
             for name, code in _FLOORS.items()]
    return rows


if __name__ == "__main__":
    from bench.run import print_table

    print_table(run(int(sys.argv[1]) if len(sys.argv) > 1 else None))
