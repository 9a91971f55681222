"""Lookup tables against Postfix's own postmap, on the same files in the same run.

- compile an N-line hash table (`affix map FILE` vs `postmap hash:FILE`, both as commands)
- N lookups through the Table API in one process (half hits, half misses) vs
  `postmap -q - hash:FILE` answering the same N keys
- `affix map -q - ` on the same keys, and one `map -q KEY` command (median latency)
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

from bench.run import Row

DEFAULT_N = 1_000_000
_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def _affix(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=_SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "affix", "map", *args], input=stdin,
                          capture_output=True, text=True, env=env, check=False)


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


def run(n: int | None = None) -> list[Row]:
    n = n or DEFAULT_N
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

        key = queries[0]
        lat_a = statistics.median(_timed(lambda: _affix("-q", key, f"hash:{src}"))
                                  for _ in range(9))
        lat_p = statistics.median(_timed(lambda: subprocess.run(
            [*pm, "-q", key, f"hash:{src}"], capture_output=True)) for _ in range(9))
        rows.append(Row("map -q KEY latency (one command), ms (lower is better)",
                        lat_a * 1000, lat_p * 1000))
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
