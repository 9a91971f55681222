"""Run a coroutine eagerly: to completion right away when it never has to wait.

Most verb handlers finish without suspending (a PermitAll policy, a syntax error), so a task
per command would be pure overhead. `start` steps the coroutine once in the caller's frame;
only when it really waits (a DNS lookup, a policy service, an fsync) is the rest handed to an
asyncio Task, which continues it from the future it was waiting on.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


def start(coro: Coroutine[Any, Any, T]) -> tuple[bool, Any]:
    """(True, result) when `coro` finished without waiting, else (False, the Task finishing
    it). An exception raised before the first wait propagates to the caller."""
    try:
        pending = coro.send(None)
    except StopIteration as stop:
        return True, stop.value
    return False, asyncio.get_running_loop().create_task(_resume(coro, pending))


@types.coroutine
def _resume(coro: Coroutine[Any, Any, T], pending: Any) -> Generator[Any, Any, T]:
    """Continue `coro` inside a Task: pass the future it yielded up, and results back down."""
    while True:
        try:
            sent = yield pending
        except BaseException as exc:  # cancellation or a future's exception goes down
            try:
                pending = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                pending = coro.send(sent)
            except StopIteration as stop:
                return stop.value
