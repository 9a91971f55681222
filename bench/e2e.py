"""End to end against Postfix 3.7: smtp-source -> server -> Maildir, same config, same run.

Both servers run the seed memo's restrictions in their working form
(tests/fixtures/memo/main-fixed.cf, plus the memo's header_checks) with fsync on, the queue
on a real disk, local delivery to a Maildir (mail_spool_directory ending in `/`) and the mail
log written to a file by affix (Postfix logs through syslog(3), and the namespace has no
/dev/log, so its logging costs it almost nothing; its postlogd file logging does not run in
this sandbox):
- affix: `affix -c DIR start` (the real daemon), once per affix_workers value (-w; default 1,
  the default single process, and 2: two smtpd workers plus the master running the queue
  manager and delivery — this box has two cores);
- Postfix: a private instance (`postfix -c DIR start`: its own config, queue and data
  directories, chroot off, mail_owner postfix); the system's default instance is never touched.

The whole comparison runs in a private mount + network namespace (`unshare -m -n`, root):
only loopback exists there, /etc/resolv.conf points at the tests' DNS fixture server on
127.0.0.1:53 (so Postfix's libc resolver and affix's resolver ask the same server), and
/etc/passwd has the memo's user `kororo`. Nothing outside the namespace changes.

Workloads: smtp-source, one message per connection, to kororo@kororo.jp from a sender whose
domain the fixture answers (reject_unknown_sender_domain does a real query), at concurrency
1, 10 and 50, messages of 1 KB and 100 KB. Measured per server: messages per second until the
last message is in Maildir/new (not just accepted; the rate of 250s is shown too, to tell
whether acceptance or delivery sets the pace), and server CPU per message (the whole
process tree: Postfix's master and every daemon it runs, affix's process and its workers).
Servers take turns; the best of `repeat` runs is kept (the box is shared).

Memory: RSS, PSS and USS of each server's process tree, fresh and with 500 idle sessions
(connected, after EHLO); affix's before any mail, Postfix's after the workloads (its 500
smtpd processes would otherwise idle through them). Issue 4 states its target (25 MB) next to
"Postfix smtpd holds ~660 MB for 500 idle sessions": only PSS reproduces that figure (measured
here: Postfix's PSS 637 MB, its RSS 5.2 GB, each of its 500 processes counting the shared
libraries again), so the target rows are PSS.

`python -m bench.e2e [N] [--quick] [-w WORKERS]`; `python -m bench.run e2e`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from bench import common

DEFAULT_N = 1000  # 1 KB messages per workload run (100 KB runs send half as many)
QUICK_N = 200
SIZES = [(1024, "1 KB"), (102400, "100 KB")]
CONCURRENCY = [1, 10, 50]
WORKERS: list[int | None] = [1, 2]  # affix_workers values compared (1 is the default)
IDLE_SESSIONS = 500
SENDER, RECIPIENT, USER, UID = "bench@example.org", "kororo@kororo.jp", "kororo", 4242
MEMO = os.path.join(common.ROOT, "tests", "fixtures", "memo")


# --- the namespace ----------------------------------------------------------------------------

def _bind(text: str, target: str, work: str) -> None:
    path = os.path.join(work, os.path.basename(target))
    with open(path, "w") as f:
        f.write(text)
    subprocess.run(["mount", "--bind", path, target], check=True)


def _enter_namespace(work: str) -> None:
    """Called inside `unshare -m -n`: loopback up, DNS at 127.0.0.1, the memo's user."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    _bind("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n", "/etc/resolv.conf", work)
    with open("/etc/passwd") as f:
        passwd = f.read()
    home = os.path.join(work, "home", USER)
    os.makedirs(home)
    os.chown(home, UID, UID)
    _bind(passwd + f"{USER}:x:{UID}:{UID}::{home}:/usr/sbin/nologin\n", "/etc/passwd", work)


def _dns_server():  # noqa: ANN202 - the fixture class is imported late (tests/ on sys.path)
    from tests.fixtures.dnsserver import DnsServer

    class Dns53(DnsServer):
        """The tests' DNS fixture on port 53, where a libc resolver looks."""

        def start(self) -> DnsServer:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((self.host, 53))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((self.host, 53))
            tcp.listen(64)
            udp.settimeout(0.2)
            tcp.settimeout(0.2)
            self._udp, self._tcp = udp, tcp
            for target in (self._serve_udp, self._serve_tcp):
                thread = threading.Thread(target=target, daemon=True, name="dns-fixture")
                thread.start()
                self._threads.append(thread)
            return self

    dns = Dns53().start()
    dns.add("example.org", "MX", "10 mail.example.org.")
    dns.add("mail.example.org", "A", "192.0.2.25")
    dns.add("1.0.0.127.in-addr.arpa", "PTR", "localhost.")
    dns.add("localhost", "A", "127.0.0.1")
    return dns


def _spread_children(path: str) -> None:
    """ext4: the directories made in PATH go to block groups of their own (chattr +T places
    each like a top-level directory). ext4 without a journal makes a new file skip every inode
    freed in its block group in the last minute or more, and Postfix removes a queue file per
    message: without this, whichever server runs next pays for those removals in its own
    deliveries, and Postfix's Maildir deliveries for its own queue's. Elsewhere a no-op."""
    subprocess.run(["chattr", "+T", path], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)


def _fs_type(path: str) -> str:
    best, kind = "", "?"
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mnt, fstype = line.split()[:3]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, kind = mnt, fstype
    return kind


# --- configuration ------------------------------------------------------------------------------

def memo_tables(work: str) -> str:
    """The memo's tables, compiled by both (NAME.db for Postfix, NAME.lmdb for affix)."""
    tables = os.path.join(work, "tables")
    os.makedirs(tables)
    for name in ("reject_client", "reject_sender", "ok-ips", "header_checks"):
        shutil.copy(os.path.join(MEMO, name), tables)
    empty = os.path.join(work, "postmap-cf")
    os.makedirs(empty)
    open(os.path.join(empty, "main.cf"), "w").close()
    for name in ("reject_client", "reject_sender", "ok-ips"):
        src = os.path.join(tables, name)
        subprocess.run(["postmap", "-c", empty, f"hash:{src}"], check=True)
        subprocess.run([sys.executable, "-m", "affix", "map", f"hash:{src}"], check=True,
                       env=common.bench_env())
    return tables


def memo_main_cf(tables: str, base: str, extra: dict[str, str]) -> str:
    with open(os.path.join(MEMO, "main-fixed.cf")) as f:
        memo = f.read().replace("/etc/postfix/", tables + "/")
    lines = {"header_checks": f"regexp:{tables}/header_checks",  # the memo's, kept
             "queue_directory": f"{base}/queue", "data_directory": f"{base}/data",
             "mail_spool_directory": f"{base}/spool/", "inet_protocols": "ipv4", **extra}
    return memo + "\n# bench\n" + "".join(f"{k} = {v}\n" for k, v in lines.items())


class Instance:
    name = ""

    def __init__(self, work: str, tables: str):
        self.base = os.path.join(work, self.name.replace(" ", "-").replace("=", ""))
        self.port = common.free_port()
        self.tables = tables
        os.makedirs(self.base)
        _spread_children(self.base)  # its queue and its mailboxes apart, as on a real server
        spool = os.path.join(self.base, "spool")
        os.makedirs(spool)
        os.chmod(spool, 0o1777)  # local(8) creates the user's Maildir there
        self.pid = 0

    @property
    def new_dir(self) -> str:
        return os.path.join(self.base, "spool", USER, "new")

    def delivered(self) -> int:
        try:
            return len(os.listdir(self.new_dir))
        except FileNotFoundError:
            return 0

    def clear(self) -> None:
        """Empty new/ for the next run. The files are moved aside, not removed: on ext4
        without a journal (this project's bench machines), creating a file skips every inode
        freed in the last seconds to minutes, so removing thousands of messages here would
        slow down whichever server runs next (they go with the work directory at the end)."""
        if not os.path.isdir(self.new_dir):
            return
        aside = os.path.join(self.base, "delivered")
        os.makedirs(aside, exist_ok=True)
        for name in os.listdir(self.new_dir):
            os.rename(os.path.join(self.new_dir, name), os.path.join(aside, name))

    def cpu(self) -> float:
        return common.cpu_seconds(self.pid, tree=True)


class Postfix(Instance):
    name = "postfix"

    def start(self) -> None:
        extra = {"meta_directory": "/etc/postfix", "mail_owner": "postfix",
                 "setgid_group": "postdrop"}
        with open(os.path.join(self.base, "main.cf"), "w") as f:
            f.write(memo_main_cf(self.tables, self.base, extra))
        with open(os.path.join(self.base, "master.cf"), "w") as f:
            f.write(_postfix_master_cf(self.port))
        os.makedirs(os.path.join(self.base, "data"))
        shutil.chown(os.path.join(self.base, "data"), "postfix")
        os.makedirs(os.path.join(self.base, "queue"))  # `postfix check` makes what is inside
        subprocess.run(["postfix", "-c", self.base, "check"], check=True)
        subprocess.run(["postfix", "-c", self.base, "start"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        common.wait_port(self.port)
        with open(os.path.join(self.base, "queue", "pid", "master.pid")) as f:
            self.pid = int(f.read().strip())

    def stop(self) -> None:
        subprocess.run(["postfix", "-c", self.base, "stop"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_gone(self.pid)


def _postfix_master_cf(port: int) -> str:
    """Debian's master.cf with the smtp listener on 127.0.0.1:PORT and chroot off."""
    out = []
    with open("/etc/postfix/master.cf") as f:
        for line in f:
            if not line.strip() or line.startswith("#") or line[0].isspace():
                if line[:1].isspace() and out:
                    out.append(line)
                continue
            fields = line.split()
            if len(fields) < 8:
                continue
            if fields[0] == "smtp" and fields[1] == "inet":
                fields[0] = f"127.0.0.1:{port}"
                fields[6] = str(IDLE_SESSIONS + 100)  # an smtpd for each idle session
            elif fields[1] == "inet" or fields[7] == "pipe":
                continue  # no other listeners; no pipes to programs that are not installed
            fields[4] = "n"  # chroot
            out.append(" ".join(fields[:8]) + " " + " ".join(fields[8:]) + "\n")
    return "".join(out)


class Affix(Instance):
    def __init__(self, work: str, tables: str, workers: int | None):
        self.name = "affix" if workers is None else f"affix w={workers}"
        super().__init__(work, tables)
        self.workers = workers

    def start(self) -> None:
        extra = {"affix_dns_servers": "127.0.0.1:53", "maillog_file": f"{self.base}/maillog"}
        if self.workers is not None:
            extra["affix_workers"] = str(self.workers)
        with open(os.path.join(self.base, "main.cf"), "w") as f:
            f.write(memo_main_cf(self.tables, self.base, extra))
        with open(os.path.join(self.base, "master.cf"), "w") as f:
            f.write(f"127.0.0.1:{self.port} inet n - n - - smtpd\n")
        subprocess.run([sys.executable, "-m", "affix", "-c", self.base, "start"], check=True,
                       env=common.bench_env())
        common.wait_port(self.port)
        with open(os.path.join(self.base, "data", "affix.pid")) as f:
            self.pid = int(f.read().strip())

    def stop(self) -> None:
        subprocess.run([sys.executable, "-m", "affix", "-c", self.base, "stop"], check=False,
                       env=common.bench_env(), stderr=subprocess.DEVNULL)
        _wait_gone(self.pid)


def _wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    if os.path.exists(f"/proc/{pid}"):
        os.kill(pid, signal.SIGKILL)


# --- measurements -------------------------------------------------------------------------------

def _workload(inst: Instance, msgs: int, conc: int, size: int) -> tuple[float, float, float]:
    """(messages per second until the last one is in Maildir/new, server CPU ms/message,
    messages per second until smtp-source had its last 250: what the server accepted)."""
    inst.clear()
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    cpu0 = inst.cpu()
    start = time.perf_counter()
    proc = subprocess.Popen([source, "-s", str(conc), "-m", str(msgs), "-l", str(size),
                             "-f", SENDER, "-t", RECIPIENT, "-M", "client.example.org",
                             f"127.0.0.1:{inst.port}"], stdout=subprocess.DEVNULL)
    deadline = start + 60 + msgs * size / 1e6
    accepted = 0.0
    while inst.delivered() < msgs:
        if not accepted and proc.poll() == 0:
            accepted = time.perf_counter() - start
        if time.perf_counter() > deadline or (proc.poll() not in (None, 0)):
            proc.kill()
            raise RuntimeError(f"{inst.name}: {inst.delivered()} of {msgs} delivered "
                               f"(smtp-source exit {proc.poll()}); see {inst.base}/maillog")
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    proc.wait(60)
    cpu = inst.cpu() - cpu0
    return msgs / elapsed, cpu * 1000 / msgs, msgs / (accepted or elapsed)


def _footprint(inst: Instance, sessions: int = IDLE_SESSIONS) -> dict[str, float]:
    """Memory of the server's processes, fresh and with `sessions` idle SMTP sessions
    (connected, after EHLO), summed over the process tree: RSS, PSS and USS in MB."""
    def total() -> dict[str, float]:
        parts = [common.memory_mb(p) for p in [inst.pid, *common.descendants(inst.pid)]]
        return {k: sum(p[k] for p in parts) for k in ("rss", "pss", "uss")}

    out = {f"{k} fresh (MB)": v for k, v in total().items()}
    socks = []
    try:
        for _ in range(sessions):
            s = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
            s.sendall(b"EHLO client.example\r\n")
            socks.append(s)
        for s in socks:
            while b"250 " not in s.recv(4096):
                pass
        time.sleep(0.5)
        out |= {f"{k} with {sessions} idle sessions (MB)": v for k, v in total().items()}
    finally:
        for s in socks:
            s.close()
    return out


def _measure(n: int, repeat: int, workers: list[int | None]) -> dict[str, dict[str, float]]:
    memory: dict[str, dict[str, float]] = {}
    work = tempfile.mkdtemp(prefix="affix-bench-e2e-", dir="/var/tmp")
    os.chmod(work, 0o755)
    _spread_children(work)
    _enter_namespace(work)
    dns = _dns_server()
    common.log(f"e2e: work in {work} ({_fs_type(work)}), DNS fixture at 127.0.0.1:53")
    tables = memo_tables(work)
    servers: list[Instance] = [Postfix(work, tables), *(Affix(work, tables, w) for w in workers)]
    out: dict[str, dict[str, float]] = {s.name: {} for s in servers}
    try:
        for s in servers:
            s.start()
            if isinstance(s, Affix):  # before any mail: what an idle server costs
                memory[s.name] = _footprint(s)
            _workload(s, 100, 10, 1024)  # warm up: processes, tables, caches
        for size, label in SIZES:
            msgs = n if size < 10000 else max(50, n // 2)
            for conc in CONCURRENCY:
                # round-robin: a box whose speed drifts over minutes treats every server alike
                runs_of: dict[str, list[tuple[float, float, float]]] = {s.name: [] for s in servers}
                for _ in range(repeat):
                    for s in servers:
                        runs_of[s.name].append(_workload(s, msgs, conc, size))
                for s in servers:
                    runs = runs_of[s.name]
                    out[s.name][f"msgs/s {label} c={conc}"] = max(r for r, _, _ in runs)
                    out[s.name][f"cpu ms/msg {label} c={conc}"] = min(c for _, c, _ in runs)
                    # whether acceptance or delivery sets the pace
                    out[s.name][f"accepted/s {label} c={conc}"] = max(a for _, _, a in runs)
                common.log(f"e2e: {label} c={conc}: " + ", ".join(
                    f"{s.name} {out[s.name][f'msgs/s {label} c={conc}']:.0f} msg/s" for s in
                    servers))
        memory[servers[0].name] = _footprint(servers[0])  # Postfix, after the workloads
    finally:
        for s in servers:
            if s.pid:
                s.stop()
        dns.stop()
    shutil.rmtree(work, ignore_errors=True)  # kept after a failure, for its logs
    return {"rates": out, "memory": memory}


# --- entry points -------------------------------------------------------------------------------

def _run_in_namespace(n: int, repeat: int, workers: list[int | None]) -> dict:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        sys.exit("bench e2e: needs root and unshare(1) (a private Postfix instance in a "
                 "private network namespace)")
    args = ["unshare", "-m", "-n", "--", sys.executable, "-m", "bench.e2e", "inner", str(n),
            str(repeat), ",".join("" if w is None else str(w) for w in workers)]
    proc = subprocess.run(args, stdout=subprocess.PIPE, text=True, env=common.bench_env(),
                          cwd=common.ROOT, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(n: int | None = None, workers: list[int | None] | None = None,
        repeat: int | None = None) -> list:
    from bench.run import Row

    n = n or DEFAULT_N
    workers = workers or WORKERS
    repeat = repeat or (1 if n <= QUICK_N else 2)
    common.compile_affix()  # as installed: the servers do not compile affix at each start
    res = _run_in_namespace(n, repeat, workers)
    rates, memory = res["rates"], res["memory"]
    pf = rates.pop("postfix")
    names = list(rates)
    print(f"\ne2e: smtp-source -> server -> Maildir, memo restrictions, fsync "
          f"(best of {repeat}; {n} msgs of 1 KB, {max(50, n // 2)} of 100 KB per run)")
    print(f"  {'':24} {'Postfix':>9}" + "".join(f" {name:>11} {'ratio':>6}" for name in names))
    for key in pf:
        print(f"  {key:24} {pf[key]:9.2f}" + "".join(
            f" {rates[name][key]:11.2f} {rates[name][key] / pf[key]:6.2f}" for name in names))
    print()
    rows = []
    for name in names:
        rows += [Row(f"e2e {name}: {key} (vs Postfix{', lower is better' if 'cpu' in key else ''})",
                     rates[name][key], pf[key]) for key in rates[name]]
    for name in ["postfix", *names]:
        rows += [Row(f"e2e {name}: {key}" + (" (target <= 25 MB)" if name != "postfix" and
                                             "idle" in key and key.startswith("pss") else ""),
                     value, None) for key, value in memory[name].items()]
    return rows


def main(argv: list[str]) -> int:
    if argv[:1] == ["inner"]:
        n, repeat = int(argv[1]), int(argv[2])
        workers = [int(w) if w else None for w in argv[3].split(",")]
        res = _measure(n, repeat, workers)
        print(json.dumps(res), flush=True)
        return 0
    ap = argparse.ArgumentParser(prog="bench.e2e")
    ap.add_argument("n", nargs="?", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_N} messages, one run")
    ap.add_argument("-w", "--workers", default=None,
                    help="affix_workers values to run, comma-separated (default: "
                         f"{','.join(map(str, WORKERS))})")
    ap.add_argument("-r", "--repeat", type=int, default=None,
                    help="runs per workload and server, the best kept (default: 2, 1 with "
                         "--quick; more runs ride out a noisy box better)")
    args = ap.parse_args(argv)
    from bench.run import print_table

    workers = [int(w) for w in args.workers.split(",")] if args.workers else None
    print_table(run(QUICK_N if args.quick else args.n, workers, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
