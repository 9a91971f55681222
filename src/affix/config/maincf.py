"""main.cf: logical lines, `name = value` entries, and `$name` expansion (config.md §1-2)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from affix.config.errors import ConfigError


@dataclass(frozen=True)
class LogicalLine:
    text: str
    line: int  # physical line number where it starts
    end_line: int  # last physical line that belongs to it


def logical_lines(text: str) -> Iterator[LogicalLine]:
    """Join continuation lines; skip comments and blank lines (which do not end a value)."""
    current: list[str] = []
    start = end = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if raw[0] in " \t" and current:
            current.append(raw)
            end = number
            continue
        if current:
            yield LogicalLine("".join(current), start, end)
        current, start, end = [raw], number, number
    if current:
        yield LogicalLine("".join(current), start, end)


@dataclass(frozen=True)
class Entry:
    name: str
    value: str
    line: int
    end_line: int


@dataclass(frozen=True)
class Warning_:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: warning: {self.message}"


def parse_maincf(text: str, path: str = "main.cf") -> tuple[dict[str, Entry], list[Warning_]]:
    """Parse main.cf text; last definition wins. Raises ConfigError for a line without '='."""
    entries: dict[str, Entry] = {}
    warnings: list[Warning_] = []
    for ll in logical_lines(text):
        if ll.text[0] in " \t":
            text = ll.text.strip()
            warnings.append(Warning_(path, ll.line,
                                     f'logical line must not start with whitespace: "{text}"'))
            continue
        name, sep, value = ll.text.partition("=")
        name = name.strip()
        if not sep or not name or re.search(r"\s", name):
            raise ConfigError(f"missing '=' after attribute name: \"{ll.text.strip()}\"",
                              path, ll.line)
        value = value.strip()
        old = entries.get(name)
        if old is not None and old.value != value:
            warnings.append(Warning_(path, ll.line,
                                     f"overriding earlier entry: {name}={old.value}"))
        entries[name] = Entry(name, value, ll.line, ll.end_line)
    return entries, warnings


class ExpansionLoop(ConfigError):
    pass


_NAME = re.compile(r"[A-Za-z0-9_]+")


def expand(value: str, lookup: Callable[[str], str | None], _depth: int = 0,
           _stack: tuple[str, ...] = ()) -> str:
    """Expand `$name`, `${name}`, `$(name)`, `${name?x}`, `${name:x}`, `${name?{a}:{b}}`,
    `${{a} op {b} ? {t} : {f}}` and `$$`. Undefined names expand to ''.

    `lookup(name)` returns the *raw* value or None; expansion recurses into it, and a name that
    refers back to itself raises ExpansionLoop.
    """

    def value_of(name: str) -> str:
        if name in _stack:
            chain = " -> ".join(_stack + (name,))
            raise ExpansionLoop(f"parameter {name}: recursion loop: {chain}")
        raw = lookup(name)
        if raw is None:
            return ""
        return expand(raw, lookup, _depth + 1, _stack + (name,))

    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = value[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt in "{(":
            close = _matching(value, i + 1)
            if close < 0:
                raise ConfigError(f'unbalanced "{nxt}" in "{value}"')
            out.append(_expand_braced(value[i + 2:close], value_of, lookup, _depth, _stack))
            i = close + 1
        else:
            m = _NAME.match(value, i + 1)
            if not m:
                out.append("$")
                i += 1
                continue
            out.append(value_of(m.group()))
            i = m.end()
    return "".join(out)


def _matching(s: str, open_at: int) -> int:
    pairs = {"{": "}", "(": ")"}
    opener, closer = s[open_at], pairs[s[open_at]]
    depth = 0
    for j in range(open_at, len(s)):
        if s[j] == opener:
            depth += 1
        elif s[j] == closer:
            depth -= 1
            if depth == 0:
                return j
    return -1


def _strip_braces(text: str) -> str:
    t = text.strip()
    if t.startswith("{") and _matching(t, 0) == len(t) - 1:
        return t[1:-1]
    return text


_RELOP = re.compile(r"^\s*(\{.*?\})\s*(==|!=|<=|>=|<|>|<=level|<level|>=level|>level|==level|"
                    r"!=level)\s*(\{.*?\})\s*\?\s*(\{.*\})\s*:\s*(\{.*\})\s*$", re.S)


def _expand_braced(inner: str, value_of: Callable[[str], str],
                   lookup: Callable[[str], str | None], depth: int,
                   stack: tuple[str, ...]) -> str:
    def sub(text: str) -> str:
        return expand(_strip_braces(text), lookup, depth, stack)

    if inner.startswith("{"):
        m = _RELOP.match(inner)
        if not m:
            raise ConfigError(f'bad relational expression: "${{{inner}}}"')
        left, op, right, yes, no = m.groups()
        return sub(yes) if _compare(sub(left), op, sub(right)) else sub(no)
    m = _NAME.match(inner)
    if not m:
        raise ConfigError(f'bad parameter name in "${{{inner}}}"')
    name, rest = m.group(), inner[m.end():]
    if not rest:
        return value_of(name)
    present = value_of(name) != ""
    if rest[0] == "?":
        body = rest[1:]
        if body.lstrip().startswith("{"):
            b = body.lstrip()
            close = _matching(b, 0)
            after = b[close + 1:].lstrip()
            if after.startswith(":"):
                return sub(b[:close + 1]) if present else sub(after[1:])
        return sub(body) if present else ""
    if rest[0] == ":":
        return "" if present else sub(rest[1:])
    raise ConfigError(f'bad expansion "${{{inner}}}"')


def _level(v: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in v.split(".")) if v else (0,)


def _compare(a: str, op: str, b: str) -> bool:
    if op.endswith("level"):
        x, y, op = _level(a), _level(b), op[:-5]
    elif a.isdigit() and b.isdigit():
        x, y = int(a), int(b)
    else:
        x, y = a, b
    return {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y,
            ">": x > y, ">=": x >= y}[op]
