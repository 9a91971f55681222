"""Lookup tables against Postfix's own postmap, on the same files in the same run.

- compile an N-line hash table (`affix map FILE` vs `postmap hash:FILE`, both as commands)
- N lookups through the Table API in one process (half hits, half misses) vs
  `postmap -q - hash:FILE` answering the same N keys
- `affix map -q - ` on the same keys, and one `map -q KEY` command (median latency), next to
  the interpreter floor (`python -c pass`, and `python -S -c pass` without site) so that the
  difference reads as affix's own share
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench import common
from bench.run import Row

DEFAULT_N = 1_000_000
LATENCY_RUNS = 21  # one-command latencies: the median of this many runs


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=common.SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _affix(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "affix", "map", *args], input=stdin,
                          capture_output=True, text=True, env=_env(), check=False)


def _timed(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _make_source(path: str, n: int) -> list[str]:
    rng = random.Random(42)
    keys = [f"user{rng.getrandbits(40):x}@example{i % 1000}.com" for i in range(n)]
    with open(path, "w") as f:
        f.writelines(f"{k} OK{i}\n" for i, k in enumerate(keys))
    queries = keys[: n // 2] + [f"nobody{i}@example{i % 1000}.com" for i in range(n - n // 2)]
    rng.shuffle(queries)
    return queries


def _api_rate(spec: str, queries: list[str]) -> float:
    from affix.tables import open_table

    lookup = open_table(spec).lookup
    start = time.perf_counter()
    for key in queries:
        lookup(key)
    return len(queries) / (time.perf_counter() - start)


def _latency_rows(pm: list[str], key: str, spec: str) -> list[Row]:
    """One `map -q KEY` command against `postmap -q`, next to the interpreter's own start-up
    (same python, with and without site): `map -q` minus `python -c pass` is affix's share.
    Median of LATENCY_RUNS runs, the four commands interleaved so load hits them alike."""
    commands = {
        "affix": lambda: _affix("-q", key, spec),
        "postmap": lambda: subprocess.run([*pm, "-q", key, spec], capture_output=True),
        "floor": lambda: subprocess.run([sys.executable, "-c", "pass"], env=_env()),
        "bare": lambda: subprocess.run([sys.executable, "-S", "-c", "pass"], env=_env()),
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(LATENCY_RUNS):
        for name, command in commands.items():
            times[name].append(_timed(command) * 1000)
    ms = {name: statistics.median(t) for name, t in times.items()}
    return [
        Row("map -q KEY latency (one command), ms (lower is better)", ms["affix"],
            ms["postmap"]),
        Row("map -q KEY: interpreter floor, python -c pass, ms", ms["floor"], None),
        Row("map -q KEY: interpreter floor without site, python -S -c pass, ms", ms["bare"], None),
        Row("map -q KEY minus python -c pass (affix's own share), ms", ms["affix"] - ms["floor"],
            ms["postmap"]),
    ]


def run(n: int | None = None) -> list[Row]:
    n = n or DEFAULT_N
    common.compile_affix()
    postmap = shutil.which("postmap") or "/usr/sbin/postmap"
    if not os.path.exists(postmap):
        sys.exit("bench tables: postmap not found (Debian package postfix)")
    work = tempfile.mkdtemp(prefix="affix-bench-tables-")
    try:
        open(os.path.join(work, "main.cf"), "w").close()
        pm = [postmap, "-c", work]
        src = os.path.join(work, "table")
        queries = _make_source(src, n)
        stdin = "\n".join(queries) + "\n"
        rows: list[Row] = []

        t_affix = _timed(lambda: _affix(src))
        t_pf = _timed(lambda: subprocess.run([*pm, f"hash:{src}"], check=True))
        rows.append(Row(f"compile {n:,} lines, s (lower is better)", t_affix, t_pf))

        rate = _api_rate(f"hash:{src}", queries)
        t_pf_q = _timed(lambda: subprocess.run([*pm, "-q", "-", f"hash:{src}"], input=stdin,
                                               capture_output=True, text=True))
        rows.append(Row(f"lookups/s, {n:,} keys, Table API vs postmap -q - (higher is better)",
                        rate, n / t_pf_q))
        t_affix_q = _timed(lambda: _affix("-q", "-", f"hash:{src}", stdin=stdin))
        rows.append(Row(f"map -q - with {n:,} keys, s (lower is better)", t_affix_q, t_pf_q))

        rows += _latency_rows(pm, queries[0], f"hash:{src}")
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
