"""main.cf: logical lines, `name = value` entries, and `$name` expansion (config.md §1-2)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from affix.ascii import is_digits
from affix.config.errors import ConfigError


@dataclass(frozen=True)
class LogicalLine:
    text: str
    line: int  # physical line number where it starts
    end_line: int  # last physical line that belongs to it (comments/blanks after it excluded)


def physical_lines(text: str) -> list[str]:
    """Split on LF only (a CR before it is dropped); other control characters stay in values."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def is_skipped(raw: str) -> bool:
    """Blank lines and comment lines (first non-blank `#`, even when indented) carry nothing."""
    stripped = raw.strip()
    return not stripped or stripped.startswith("#")


def logical_lines(text: str) -> Iterator[LogicalLine]:
    """Join continuation lines (leading whitespace kept, newline dropped).

    Comments and blank lines are skipped and do not end a logical line (config.md §1).
    """
    current: list[str] = []
    start = end = 0
    for number, raw in enumerate(physical_lines(text), 1):
        if is_skipped(raw):
            continue
        if raw[0].isspace() and current:
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
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: warning: {self.message}"


def split_entry(ll: LogicalLine, path: str) -> tuple[str, str]:
    """`name = value` -> (name, trimmed value); the name ends at whitespace or `=`."""
    m = re.match(r"([^=\s]*)\s*(=?)", ll.text)
    assert m is not None
    name, sep = m.groups()
    shown = ll.text.strip()
    if not name:
        raise ConfigError(f'missing attribute name: "{shown}"', path, ll.line)
    if not sep:
        raise ConfigError(f"missing '=' after attribute name: \"{shown}\"", path, ll.line)
    return name, ll.text[m.end():].strip()


def parse_maincf(text: str, path: str = "main.cf") -> tuple[dict[str, Entry], list[Warning_]]:
    """Parse main.cf text; last definition wins. Raises ConfigError for a line without '='."""
    entries: dict[str, Entry] = {}
    warnings: list[Warning_] = []
    for ll in logical_lines(text):
        if ll.text[0].isspace():
            shown = ll.text.strip()
            warnings.append(Warning_(path, ll.line,
                                     f'logical line must not start with whitespace: "{shown}"'))
            continue
        name, value = split_entry(ll, path)
        old = entries.get(name)
        if old is not None and old.value != value:
            warnings.append(Warning_(path, ll.line,
                                     f"overriding earlier entry: {name}={old.value}"))
        entries[name] = Entry(name, value, ll.line, ll.end_line)
    return entries, warnings


# --- $name expansion -------------------------------------------------------------------------

class ExpansionError(ConfigError):
    """Bad `$` syntax or a reference loop; `param` names the parameter whose value is at fault."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class ExpansionLoop(ExpansionError):
    pass


_NAME = re.compile(r"[A-Za-z0-9_]+")
_OPERATOR = re.compile(r"(==|!=|<=|>=|<|>)(level)?")

Lookup = Callable[[str], "str | None"]


def expand(value: str, lookup: Lookup, _depth: int = 0, _stack: tuple[str, ...] = ()) -> str:
    """Expand `$name`, `${name}`, `$(name)`, `${name?x}`, `${name:x}`, `${name?{a}:{b}}`,
    `${{a} op {b} ? {t} : {f}}` and `$$`. Undefined names expand to ''.

    `lookup(name)` returns the *raw* value or None. Expansion is lazy (only the chosen branch
    of a conditional is expanded) and recursive; a name that refers back to itself raises
    ExpansionLoop. `_stack` holds the names being expanded (the caller's own name first).
    """
    return _Expander(lookup, _stack).run(value)


class _Expander:
    def __init__(self, lookup: Lookup, stack: tuple[str, ...]):
        self.lookup = lookup
        self.stack = stack

    def value_of(self, name: str) -> str:
        if name in self.stack:
            chain = " -> ".join((*self.stack, name))
            raise ExpansionLoop(f"unreasonable macro call nesting: {chain}", name)
        raw = self.lookup(name)
        if raw is None:
            return ""
        try:
            return _Expander(self.lookup, (*self.stack, name)).run(raw)
        except ExpansionError as e:
            if e.param is None:
                e.param = name
            raise

    def present(self, name: str) -> bool:
        # Postfix tests the raw value: `a = $empty` counts as set (verified with postconf -x).
        return bool(self.lookup(name))

    def run(self, value: str) -> str:
        out: list[str] = []
        i, n = 0, len(value)
        while i < n:
            j = value.find("$", i)
            if j < 0:
                out.append(value[i:])
                break
            out.append(value[i:j])
            i = self.dollar(value, j, out)
        return "".join(out)

    def dollar(self, value: str, at: int, out: list[str]) -> int:
        """Expand the reference starting at value[at] == '$'; return the index after it."""
        nxt = value[at + 1] if at + 1 < len(value) else ""
        if nxt == "$":
            out.append("$")
            return at + 2
        if nxt in ("{", "("):
            close = _matching(value, at + 1)
            if close < 0:
                raise ExpansionError(f'truncated macro reference: "{value}"')
            out.append(self.braced(value[at + 2:close]))
            return close + 1
        m = _NAME.match(value, at + 1)
        if not m:
            raise ExpansionError(f'empty macro name: "{value}"')
        out.append(self.value_of(m.group()))
        return m.end()

    def braced(self, inner: str) -> str:
        body = inner.lstrip()
        if body.startswith("{"):
            return self.relational(body)
        m = re.match(r"([A-Za-z0-9_]+)\s*", body)
        if not m:
            raise ExpansionError(f'attribute name syntax error at: "{inner}"')
        name, rest = m.group(1), body[m.end():]
        if not rest:
            return self.value_of(name)
        if rest[0] not in "?:":
            raise ExpansionError(f'attribute name syntax error at: "...{name}>>>{rest}"')
        yes, no = _branches(rest[1:], rest[0] == "?")
        if rest[0] == "?":
            chosen = yes if self.present(name) else no
        else:
            chosen = "" if self.present(name) else yes
        return self.run(chosen) if chosen else ""

    def relational(self, body: str) -> str:
        left, pos = _group(body, 0)
        m = _OPERATOR.match(body, _skip_ws(body, pos))
        if not m:
            raise ExpansionError(f'"==" or "!=" or "<" or "<=" or ">=" or ">" expected at: '
                                 f'"...{body[:pos]}>>>{body[pos:]}"')
        at = _skip_ws(body, m.end())
        if not body.startswith("{", at):
            raise ExpansionError(f'"{{expression}}" expected at: "...{body[:at]}>>>{body[at:]}"')
        right, pos = _group(body, at)
        rest = body[pos:].strip()
        if not rest:
            return ""
        if not rest.startswith("?"):
            raise ExpansionError(f'"?" expected at: "{rest}"')
        yes, no = _branches(rest[1:], True, strip=True)
        truth = _compare(self.run(left), m.group(1), self.run(right), bool(m.group(2)))
        chosen = yes if truth else no
        return self.run(chosen) if chosen else ""


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i].isspace():
        i += 1
    return i


def _group(s: str, at: int) -> tuple[str, int]:
    """The text inside the `{...}` starting at s[at]; returns (text, index after the `}`)."""
    close = _matching(s, at)
    if close < 0:
        raise ExpansionError(f'truncated macro reference: "{s}"')
    return s[at + 1:close], close + 1


def _branches(body: str, with_else: bool, strip: bool = False) -> tuple[str, str]:
    """Parse the text after `?` (with_else) or `:`: `text`, `{t}`, `{t}:{f}` or `{t}:f`.

    Unbraced text is kept verbatim after `${name?` but left-trimmed in a relational form
    (strip), as Postfix does.
    """
    lead = body.lstrip()
    if not lead.startswith("{"):
        return (lead if strip else body), ""
    first, pos = _group(lead, 0)
    rest = lead[pos:].lstrip()
    if not rest:
        return first, ""
    if not with_else:
        raise ExpansionError(f'unexpected input at: "...{lead[:pos]}>>>{lead[pos:]}"')
    if not rest.startswith(":"):
        raise ExpansionError(f'":" expected at: "...{lead[:pos]}>>>{lead[pos:]}"')
    after = rest[1:].lstrip()
    if not after.startswith("{"):
        return first, after
    second, end = _group(after, 0)
    if after[end:].strip():
        raise ExpansionError(f'unexpected input at: "...{after[:end]}>>>{after[end:]}"')
    return first, second


def _matching(s: str, open_at: int) -> int:
    opener = s[open_at]
    closer = "}" if opener == "{" else ")"
    depth = 0
    for j in range(open_at, len(s)):
        if s[j] == opener:
            depth += 1
        elif s[j] == closer:
            depth -= 1
            if depth == 0:
                return j
    return -1


def parse_level(text: str) -> tuple[int, int, int]:
    """A compatibility level `major[.minor[.patch]]` (3.10 > 3.9)."""
    m = re.fullmatch(r"([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?", text)
    if not m:
        raise ExpansionError(f'malformed compatibility level syntax: "{text}"')
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


def _compare(a: str, op: str, b: str, level: bool) -> bool:
    x: object
    y: object
    if level:
        x, y = parse_level(a), parse_level(b)
    elif is_digits(a) and is_digits(b):
        x, y = int(a), int(b)  # numeric when both sides are all digits, else lexical
    else:
        x, y = a, b
    return {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y,  # type: ignore[operator]
            ">": x > y, ">=": x >= y}[op]  # type: ignore[operator]
