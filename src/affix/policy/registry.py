"""The restriction registry: every smtpd restriction name maps to one small async function.

A restriction module decorates its functions with `@restriction("name", ...)`; the engine looks
names up here and never branches on them itself. Old names (config.md §5) are registered as
aliases that log a one-time deprecation warning naming the current name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from affix.policy.evaluation import Evaluation


class Result(Enum):
    """What one restriction decided (Postfix's SMTPD_CHECK_DUNNO / _OK / _REJECT)."""
    DUNNO = "DUNNO"  # go on with the next restriction
    OK = "OK"  # this list is done: the request passes it
    REJECT = "REJECT"  # the evaluation is over; Evaluation.final holds the reply


class Arg(Enum):
    """The kind of argument a restriction takes from the next list element."""
    NONE = "none"
    TABLE = "table"  # type:name
    ZONE = "zone"  # DNSBL zone, optionally =filter
    NUMBER = "number"
    SERVICE = "service"  # policy server endpoint


RestrictionFn = Callable[["Evaluation", "str | None"], Awaitable[Result]]


@dataclass(frozen=True)
class RestrictionSpec:
    name: str
    fn: RestrictionFn
    arg: Arg = Arg.NONE
    current: str | None = None  # for an old name: the name to use instead
    deprecation: str | None = None  # the warning text logged once per process, if any


REGISTRY: dict[str, RestrictionSpec] = {}


def restriction(name: str, arg: Arg = Arg.NONE,
                old: tuple[str, ...] = ()) -> Callable[[RestrictionFn], RestrictionFn]:
    """Register `fn` under `name`; each name in `old` becomes a deprecated alias."""
    def register(fn: RestrictionFn) -> RestrictionFn:
        REGISTRY[name] = RestrictionSpec(name, fn, arg)
        for old_name in old:
            REGISTRY[old_name] = RestrictionSpec(
                old_name, fn, arg, current=name,
                deprecation=f'restriction "{old_name}" is an obsolete name; '
                            f'use "{name}" instead')
        return fn
    return register


def obsolete(name: str, current: str, warning: str, arg: Arg = Arg.NONE,
             ) -> Callable[[RestrictionFn], RestrictionFn]:
    """Register a restriction that still works but is scheduled for removal (its own text)."""
    def register(fn: RestrictionFn) -> RestrictionFn:
        REGISTRY[name] = RestrictionSpec(name, fn, arg, current=current, deprecation=warning)
        return fn
    return register


def lookup(name: str) -> RestrictionSpec | None:
    """Restriction names are case-insensitive in Postfix (strcasecmp)."""
    return REGISTRY.get(name.lower())
