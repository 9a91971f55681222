"""The text source format shared by `affix map` and texthash tables (tables.md §2).

Lines are `KEY WHITESPACE VALUE`; `#` at the first non-blank position starts a comment; a
line that starts with whitespace continues the previous one (its leading whitespace kept);
blank lines and comments do not end a logical line. The key ends at the first whitespace
outside double quotes, and quoted keys keep their quotes. Problems are reported, never raised:
the offending line is skipped, as postmap does.
"""

from __future__ import annotations

from dataclasses import dataclass

Record = tuple[str, str, int]  # key, value, line where the logical line starts


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
    records: list[Record] = []
    pending: str | None = None
    start = 0
    skipping = False  # inside a logical line that started with whitespace
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    for number, raw in enumerate(lines, 1):
        first = raw[:1]
        if not first or first in " \t\r\f\v":
            stripped = raw.strip()
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


def _record(text: str, line: int, path: str, records: list[Record],
            problems: list[Problem]) -> None:
    if '"' in text:
        parts = _split_quoted(text)
        if parts is None:
            problems.append(Problem(
                path, line, f"unbalanced '\"' in '{text.strip()}' -- ignoring this line"))
            return
    else:
        parts = text.split(None, 1)
    if len(parts) < 2:
        problems.append(Problem(path, line, "expected format: key whitespace value"))
        return
    key, value = parts[0], parts[1].strip()
    if key.endswith(":"):
        problems.append(Problem(
            path, line, 'record is in "key: value" format; is this an alias file?'))
    records.append((key, value, line))


def _split_quoted(text: str) -> list[str] | None:
    """Split off a key that may contain "quoted parts" (kept, with `\\` escapes inside);
    None when a quote is not closed before the key ends."""
    text = text.strip()
    in_quote = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_quote and c == "\\":
            i += 2
            continue
        if c == '"':
            in_quote = not in_quote
        elif not in_quote and c.isspace():
            break
        i += 1
    if in_quote:
        return None
    key, rest = text[:i], text[i:].strip()
    return [key, rest] if rest else [key]
