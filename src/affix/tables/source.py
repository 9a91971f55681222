"""The text source format shared by `affix map` and texthash tables (tables.md §2).

Lines are `KEY WHITESPACE VALUE`; `#` at the first non-blank position starts a comment; a
line that starts with whitespace continues the previous one (its leading whitespace kept);
blank lines and comments do not end a logical line. The key ends at the first whitespace
outside double quotes, and quoted keys keep their quotes. Problems are reported, never raised:
the offending line is skipped, as postmap does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Record = tuple[str, str, int]  # key, value, line where the logical line starts
WS = " \t\r\n\f\v"  # Postfix splits on ASCII white space only (not NBSP, NEL, ...)
_WS_SPLIT = re.compile(f"[{WS}]+")
_PY_ONLY_WS = re.compile("[\x1c-\x1f]")  # str.split() also splits on these; Postfix doesn't


@dataclass(frozen=True)
class Problem:
    """A warning about one line of a table source: str() is `FILE, line N: message`."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}, line {self.line}: {self.message}"


def source_records(text: str, path: str, problems: list[Problem]) -> list[Record]:
    """Parse a table source. Malformed lines are skipped and appended to `problems`."""
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    if text.isascii() and '"' not in text and text[:1] not in _BLANKS \
            and not _PY_ONLY_WS.search(text) and "\n " not in text \
            and "\n\t" not in text:
        fast = _simple_records(lines, path, problems)
        if fast is not None:
            return fast
    records: list[Record] = []
    pending: str | None = None
    start = 0
    skipping = False  # inside a logical line that started with whitespace
    for number, raw in enumerate(lines, 1):
        first = raw[:1]
        if not first or first in " \t\r\f\v":
            stripped = raw.strip(WS)
            if not stripped or stripped[0] == "#":
                continue
            if pending is not None:
                pending += raw  # continuation: leading whitespace is kept
            elif not skipping:
                skipping = True
                problems.append(Problem(
                    path, None, f'logical line must not start with whitespace: "{raw}"'))
            continue
        if first == "#":
            continue
        skipping = False
        if pending is not None:
            _record(pending, start, path, records, problems)
        pending, start = raw, number
    if pending is not None:
        _record(pending, start, path, records, problems)
    return records


_BLANKS = (" ", "\t", "\r", "\f", "\v")


def _simple_records(lines: list[str], path: str,
                    problems: list[Problem]) -> list[Record] | None:
    """source_records() for a source without quotes or continuation lines (the common case,
    and much faster); None when a line turns out to start with other white space."""
    records: list[Record] = []
    append = records.append
    mark = len(problems)
    for number, raw in enumerate(lines, 1):
        if not raw or raw[0] == "#":
            continue
        if raw[0] in "\r\f\v":
            del problems[mark:]
            return None
        parts = raw.split(None, 1)
        if len(parts) == 2:
            key = parts[0]
            if key[-1] == ":":
                problems.append(Problem(
                    path, number, 'record is in "key: value" format; is this an alias file?'))
            append((key, parts[1].rstrip(), number))
        else:
            problems.append(Problem(path, number, "expected format: key whitespace value"))
    return records


def _record(text: str, line: int, path: str, records: list[Record],
            problems: list[Problem]) -> None:
    if '"' in text:
        parts = _split_quoted(text)
        if parts is None:
            problems.append(Problem(
                path, line, f"unbalanced '\"' in '{text.strip(WS)}' -- ignoring this line"))
            return
    else:
        parts = _WS_SPLIT.split(text.strip(WS), 1)
    if len(parts) < 2:
        problems.append(Problem(path, line, "expected format: key whitespace value"))
        return
    key, value = parts[0], parts[1].strip(WS)
    if key.endswith(":"):
        problems.append(Problem(
            path, line, 'record is in "key: value" format; is this an alias file?'))
    records.append((key, value, line))


def _split_quoted(text: str) -> list[str] | None:
    """Split off a key that may contain "quoted parts" (kept, with `\\` escapes inside);
    None when a quote is not closed before the key ends."""
    text = text.strip(WS)
    in_quote = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":  # escapes the next character, inside quotes or not (as postmap does)
            i += 2
            continue
        if c == '"':
            in_quote = not in_quote
        elif not in_quote and c in WS:
            break
        i += 1
    if in_quote:
        return None
    key, rest = text[:i], text[i:].strip(WS)
    return [key, rest] if rest else [key]
