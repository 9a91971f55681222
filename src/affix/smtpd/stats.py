"""Per-session command counters for the `disconnect from` line (smtp-and-logs.md §4)."""

from __future__ import annotations

# The order Postfix prints them in.
ORDER = ("helo", "ehlo", "xclient", "xforward", "starttls", "auth", "mail", "rcpt", "data",
         "bdat", "rset", "noop", "vrfy", "etrn", "quit", "unknown")


class CommandStats:
    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}  # name -> [ok, total]

    def count(self, name: str, ok: bool) -> None:
        entry = self.counts.get(name)
        if entry is None:
            entry = self.counts[name] = [0, 0]
        entry[1] += 1
        if ok:
            entry[0] += 1

    def summary(self) -> str:
        """`ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4`; `/TOTAL` only when some failed."""
        parts = []
        ok_all = total_all = 0
        counts = self.counts
        for name in ORDER:
            if name not in counts:  # `in`, not get(): no call for each name a session skips
                continue
            ok, total = counts[name]
            ok_all += ok
            total_all += total
            parts.append(f"{name}={_ratio(ok, total)}")
        parts.append(f"commands={_ratio(ok_all, total_all) if total_all else '0/0'}")
        return " ".join(parts)


def _ratio(ok: int, total: int) -> str:
    return str(ok) if ok == total else f"{ok}/{total}"
