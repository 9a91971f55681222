"""The benchmark commands README's "Measuring" section names exist and take its arguments
(running them is bench/'s job, not the suite's: they take minutes and need root)."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _help(module: str) -> str:
    done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bench_run_names_every_benchmark_and_a_quick_mode():
    out = _help("bench.run")
    assert "tables, smtpd, e2e" in out
    assert "--quick" in out


def test_bench_e2e_takes_a_worker_count():
    out = _help("bench.e2e")
    assert "-w WORKERS" in out and "--quick" in out and "-r REPEAT" in out
