"""The `lab` fixture: a config directory in tmp_path for lint and explain (doctor_lab.py)."""

from __future__ import annotations

import pytest

from .doctor_lab import Lab


@pytest.fixture
def lab(tmp_path):
    return Lab(tmp_path)
