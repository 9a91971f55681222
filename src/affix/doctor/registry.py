"""The table of lint checks. Each family module registers small functions with `@check`.

A check receives the LintContext and yields Findings; it names the IDs it may report, with
their severity, so the catalog (`affix lint --list`) and the severities live in one table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from affix.doctor.findings import Finding, Severity, Where

if TYPE_CHECKING:
    from affix.doctor.context import LintContext

CheckFn = Callable[["LintContext"], Iterable["Finding"]]


@dataclass(frozen=True)
class CheckSpec:
    fn: CheckFn
    ids: tuple[str, ...]
    family: str
    dns: bool = False  # runs only with `affix lint --dns` (it sends DNS queries)


CHECKS: list[CheckSpec] = []
SEVERITY: dict[str, Severity] = {}  # check ID -> its severity
TITLE: dict[str, str] = {}  # check ID -> one-line description


def check(*ids: tuple[str, Severity, str], dns: bool = False) -> Callable[[CheckFn], CheckFn]:
    """Register a check that may report the given (ID, severity, title) triples."""
    def register(fn: CheckFn) -> CheckFn:
        for check_id, severity, title in ids:
            if check_id in SEVERITY:
                raise ValueError(f"check ID {check_id} registered twice")
            SEVERITY[check_id] = severity
            TITLE[check_id] = title
        family = fn.__module__.rsplit(".", 1)[-1]
        CHECKS.append(CheckSpec(fn, tuple(i for i, _, _ in ids), family, dns))
        return fn
    return register


def finding(check_id: str, where: Where, message: str, why: str = "", fix: str = "",
            ) -> Finding:
    """A Finding with the severity registered for its ID."""
    return Finding(check_id, SEVERITY[check_id], where, message, why, fix)
