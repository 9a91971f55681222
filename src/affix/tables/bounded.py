"""A time limit for the regexp:/pcre: rules that can backtrack without end.

Python's `re` has no match limit. A rule such as `/^Subject: (a|aa)+$/` (a repeat around an
alternative or another repeat) takes exponential time on a crafted subject, and one search
would stop the whole server: every session shares the event loop. Postfix's PCRE stops such
a search at its match limit. affix looks at each compiled rule once: most rules cannot blow
up and keep `re` (the fastest); a rule that can (a repeat nested in a repeat or around an
alternative, or three or more unbounded repeats) is matched by the `regex` module, whose
search takes a timeout. A search that runs out of time raises MatchTimeout, a temporary
TableError: the caller answers 4xx (the client tries again; the admin sees the warning), and
the server goes on.
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

from affix.tables.base import TableError

LIMIT = 0.1  # seconds one search may take

_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}


class MatchTimeout(TableError):
    def __init__(self, where: str):
        super().__init__(f"{where}: matching took longer than {LIMIT:g}s: pattern can backtrack "
                         "without end; rewrite it", temporary=True)


class BoundedPattern:
    """Stands in for a compiled `re` pattern: search() with the time limit."""

    def __init__(self, rx: re.Pattern[str], where: str):
        import regex  # only for rules that need it

        flags = sum(getattr(regex, name) for name in ("IGNORECASE", "MULTILINE", "DOTALL",
                                                      "VERBOSE", "ASCII")
                    if rx.flags & getattr(re, name))
        self._rx = regex.compile(rx.pattern, flags)
        self.pattern, self.groups, self.where = rx.pattern, rx.groups, where

    def search(self, text: str) -> Any:
        try:
            return self._rx.search(text, timeout=LIMIT)
        except TimeoutError:
            raise MatchTimeout(self.where) from None


def bounded(rx: re.Pattern[str], where: str) -> re.Pattern[str] | BoundedPattern:
    """`rx` itself when it cannot backtrack without end, else a BoundedPattern."""
    try:
        tree = _parser.parse(rx.pattern, rx.flags)
    except Exception:  # noqa: BLE001 - an internal parser that changed: be careful
        return BoundedPattern(rx, where)
    nested, unbounded = _scan(tree, inside_repeat=False)
    return BoundedPattern(rx, where) if nested or unbounded >= 3 else rx


def _scan(items: Any, inside_repeat: bool) -> tuple[bool, int]:
    """(a repeat or an alternative inside a repeat, the number of unbounded repeats)."""
    nested, unbounded = False, 0
    for op, av in items:
        inner: list[Any] = []
        repeat = False
        if op in _REPEATS:
            low, high, sub = av
            repeat = high > 1
            nested |= repeat and inside_repeat
            unbounded += high == sre.MAXREPEAT
            inner = [sub]
        elif op is sre.BRANCH:
            nested |= inside_repeat
            inner = av[1]
        elif op is sre.SUBPATTERN:
            inner = [av[3]]
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            inner = [av[1]]
        elif op is sre.GROUPREF_EXISTS:
            inner = [p for p in av[1:] if p is not None]
        elif op is getattr(sre, "ATOMIC_GROUP", None):
            inner = [av]
        for sub in inner:
            n, u = _scan(sub, inside_repeat or repeat)
            nested |= n
            unbounded += u
    return nested, unbounded
