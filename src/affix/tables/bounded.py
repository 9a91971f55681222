"""A time limit for regexp: and pcre: rules, in place of PCRE's match limit.

Python's `re` cannot stop a search once it runs, and some rules take exponential or high
polynomial time on a crafted line (`/^Subject: (a|aa)+$/`, `/\\s+\\s+x/`): one such search
would stop every session of the server, which share the event loop. So every rule is matched
by the `regex` module (re-compatible syntax), whose searches take a timeout: each search may
use LIMIT seconds, and all the searches of one piece of work inside `budget()` (cleanup's
checks of one message) BUDGET seconds together. Running out raises MatchTimeout, a temporary
TableError: the caller answers 4xx (the client tries again; the admin sees the rule named in
the warning), and the server goes on.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from affix.tables.base import TableError

LIMIT = 0.1  # seconds one search may take
BUDGET = 1.0  # seconds all the searches inside one budget() may take

_FLAGS = ("IGNORECASE", "MULTILINE", "DOTALL", "VERBOSE", "ASCII")
_deadline = threading.local()  # .at: time.monotonic() by which the current budget ends


class MatchTimeout(TableError):
    def __init__(self, where: str):
        super().__init__(f"{where}: matching took longer than the time allowed ({LIMIT:g}s a "
                         f"search, {BUDGET:g}s a message): the pattern backtracks too much; "
                         "rewrite it", temporary=True)


class budget:
    """The searches made inside share `seconds` (nested budgets keep the outer one).
    A class rather than a contextlib.contextmanager: cleanup enters one per message, and the
    generator machinery cost several times the work."""

    def __init__(self, seconds: float = BUDGET):
        self.seconds = seconds
        self.outer = False  # this one set the deadline (no budget was running)

    def __enter__(self) -> None:
        if getattr(_deadline, "at", None) is None:
            _deadline.at = time.monotonic() + self.seconds
            self.outer = True

    def __exit__(self, *exc: object) -> None:
        if self.outer:
            _deadline.at = None


class BoundedPattern:
    """A compiled rule: search() with the time limit; `pattern` and `groups` as re's."""

    def __init__(self, rx: re.Pattern[str], where: str):
        import regex

        flags = sum(getattr(regex, name) for name in _FLAGS if rx.flags & getattr(re, name))
        self._rx = regex.compile(rx.pattern, flags)
        self.pattern, self.groups, self.where = rx.pattern, rx.groups, where

    def search(self, text: str) -> Any:
        timeout = LIMIT
        at = getattr(_deadline, "at", None)
        if at is not None:
            timeout = min(timeout, at - time.monotonic())
            if timeout <= 0:
                raise MatchTimeout(self.where)
        try:
            # concurrent=False: keep the interpreter lock. regex lets it go for every search
            # of a str by default, and each search then hands the process to a waiting thread
            # (the queue's fsyncs): dozens of context switches a message.
            return self._rx.search(text, timeout=timeout, concurrent=False)
        except TimeoutError:
            raise MatchTimeout(self.where) from None
