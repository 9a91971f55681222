"""affix/offload.py: short work stays on the loop, long work moves to a thread and back."""

from __future__ import annotations

import asyncio
import threading
import time

from affix.offload import MASTER_LIMIT, Offload


def _where(offload: Offload, seconds: float) -> str:
    """Run a piece of work taking `seconds` through offload; the thread it ran on."""
    def work() -> str:
        time.sleep(seconds)
        return threading.current_thread().name

    return asyncio.run(offload.run(work))


def test_work_moves_to_the_loop_while_short_and_to_a_thread_when_slow():
    offload = Offload(0.001)
    main = threading.current_thread().name
    places = [_where(offload, 0) for _ in range(40)]
    assert places[0] != main  # unmeasured work starts on a thread
    assert places[-1] == main  # then, being short, runs on the loop
    assert _where(offload, 0.02) == main  # one slow run on the loop...
    assert _where(offload, 0) != main  # ...moves the next ones to the thread


def test_without_sessions_work_starts_on_the_loop_and_leaves_it_for_a_slow_disk():
    offload = Offload(MASTER_LIMIT, on_loop_first=True)
    main = threading.current_thread().name
    assert _where(offload, 0) == main
    assert _where(offload, 0.05) == main  # a slow run, measured on the loop...
    assert _where(offload, 0) != main  # ...sends the next ones to threads
