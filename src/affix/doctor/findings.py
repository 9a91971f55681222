"""What `affix lint` reports: a Finding per problem, with a check ID, a severity and a place.

Text form (one line): `FILE:LINE: SEVERITY: [ID] MESSAGE (WHY; FIX)`. The JSON form carries the
same fields. Severities (pitfalls.md): error = mail is lost, or every message is rejected or
deferred; warning = likely wrong; info = outdated or cosmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Severity(IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Where:
    """A place in a configuration file; line None when the whole file (or a default) is meant."""
    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Finding:
    check: str  # AFX-FAMILY-NNN
    severity: Severity
    where: Where
    message: str
    why: str = ""
    fix: str = ""

    def __str__(self) -> str:
        detail = "; ".join(part for part in (self.why, self.fix) if part)
        tail = f" ({detail})" if detail else ""
        return f"{self.where}: {self.severity.label}: [{self.check}] {self.message}{tail}"

    def as_dict(self) -> dict[str, object]:
        return {"check": self.check, "severity": self.severity.label,
                "file": self.where.file, "line": self.where.line, "message": self.message,
                "why": self.why, "fix": self.fix}


def exit_status(findings: list[Finding]) -> int:
    """0: nothing above info; 1: the worst is a warning; 2: at least one error."""
    worst = max((f.severity for f in findings), default=Severity.INFO)
    return int(worst)
