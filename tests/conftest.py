"""Shared test helpers: run the real `affix` command as a subprocess of this checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"


def affix_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run_affix(*args: str, input: str | None = None, env: dict[str, str] | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `affix ARGS` (this checkout's code) and capture its output."""
    return subprocess.run([sys.executable, "-m", "affix", *args], input=input,
                          capture_output=True, text=True, env=env or affix_env(),
                          timeout=timeout)


@pytest.fixture
def affix():
    return run_affix
