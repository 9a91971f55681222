"""regexp: and pcre: tables (tables.md §5): `/pattern/flags result` rules, first match wins.

Rules: `!/pattern/` negation, `if /pattern/` ... `endif` blocks (nesting), `$1` `${1}` `$(1)`
substitution and `$$`. A bad rule is skipped with a warning naming `FILE, line N`, as Postfix
does; the warnings are kept in `table.warnings` (logged at open, reported by `affix map`).
The key is matched unchanged (no case folding: these are pattern tables).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from affix.config.maincf import logical_lines
from affix.config.snapshot import split_list
from affix.tables.base import FileTable, Table, empty_result, read_text
from affix.tables.bounded import BoundedPattern
from affix.tables.patterns import PatternError, pcre_to_python, posix_to_python
from affix.tables.simple import strip_braces

Template = tuple[str | int, ...]  # literal text and capture-group numbers


class RuleError(ValueError):
    """One rule is malformed; the message is Postfix's wording, the rule is skipped."""


@dataclass(frozen=True)
class Rule:
    regex: BoundedPattern
    negate: bool
    template: Template | None  # None for an `if` rule
    skip_to: int = 0  # for `if`: index of the first rule after the matching endif
    line: int = 0


class PatternTable(Table):
    fixed = False

    def __init__(self, spec: str, kind: str, text: str, where: str):
        super().__init__(spec)
        self.kind = kind  # "regexp" or "pcre"
        self.warnings: tuple[str, ...] = ()
        self.rules = self._load(text, where)

    def _load(self, text: str, where: str) -> list[Rule]:
        rules: list[Rule] = []
        open_ifs: list[tuple[int, int, BoundedPattern, bool]] = []  # (index, line, rx, neg)
        warnings: list[str] = []
        for ll in logical_lines(text):
            try:
                self._rule(ll.text, f"{self.kind} map {where}, line {ll.line}", ll.line, rules,
                           open_ifs)
            except (RuleError, PatternError, re.error) as e:
                warnings.append(f"{self.kind} map {where}, line {ll.line}: {_message(e)}")
        for _index, line, _rx, _neg in open_ifs:
            warnings.append(f"{self.kind} map {where}, line {line}: IF has no matching ENDIF")
        for index, _line, rx, neg in open_ifs:  # a missing endif closes at the end of file
            rules[index] = Rule(rx, neg, None, len(rules), rules[index].line)
        self.warnings = tuple(warnings)
        return rules

    def _rule(self, text: str, where: str, line: int, rules: list[Rule],
              open_ifs: list) -> None:
        if re.match(r"endif(?![a-z0-9])", text.strip(), re.I):
            if not open_ifs:
                raise RuleError("ignoring ENDIF without matching IF")
            index, if_line, rx, neg = open_ifs.pop()
            rules[index] = Rule(rx, neg, None, len(rules), if_line)
            return
        is_if = re.match(r"if(?![a-z0-9])", text.strip(), re.I) is not None
        body = text.strip()[2:] if is_if else text
        negate, plain, rest = self._pattern(body)
        rx = BoundedPattern(plain, where)
        if is_if:
            rules.append(Rule(rx, negate, None, 0, line))
            open_ifs.append((len(rules) - 1, line, rx, negate))
            return
        if not rest:
            rules.append(Rule(rx, negate, ("",), 0, line))  # Postfix keeps it, with a warning
            raise RuleError("no replacement text: using empty string")
        if negate and re.search(r"\$([0-9]|\{[0-9]|\([0-9])", rest):
            raise RuleError("$number found in negative match replacement text: "
                            "skipping this rule")
        template = parse_template(rest, rx.groups)
        rules.append(Rule(rx, negate, template, 0, line))

    def _pattern(self, text: str) -> tuple[bool, re.Pattern[str], str]:
        p = text.lstrip()
        negate = False
        while p.startswith("!"):
            negate = not negate
            p = p[1:].lstrip()
        if not p or p[0].isalnum() or p[0].isspace():
            raise RuleError(f'malformed rule: "{text.strip()}": skipping this rule')
        delim = p[0]
        pattern, end = _until_delimiter(p, delim)
        m = re.match(r"\S*", p[end:])
        flags = m.group(0) if m else ""
        return negate, self._compile(pattern, flags), p[end + len(flags):].strip()

    def _compile(self, pattern: str, flags: str) -> re.Pattern[str]:
        if self.kind == "regexp":
            return _compile_posix(pattern, flags)
        return _compile_pcre(pattern, flags)

    def lookup(self, key: str) -> str | None:
        rules = self.rules
        i, n = 0, len(rules)
        while i < n:
            rule = rules[i]
            m = rule.regex.search(key)
            if rule.template is None:  # if-block: enter it, or jump past its endif
                i = i + 1 if (m is None) == rule.negate else rule.skip_to
                continue
            if (m is None) == rule.negate:
                value = expand(rule.template, m)
                if not value:
                    raise empty_result(self.spec, key)
                return value
            i += 1
        return None


def _message(e: Exception) -> str:
    if isinstance(e, re.error):
        return e.msg
    return str(e)


def _until_delimiter(p: str, delim: str) -> tuple[str, int]:
    """The pattern between delimiters; a backslash before the delimiter escapes it."""
    out: list[str] = []
    i = 1
    while i < len(p):
        c = p[i]
        if c == "\\" and i + 1 < len(p) and p[i + 1] == delim:
            out.append(delim)
            i += 2
            continue
        if c == delim:
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise RuleError(f'no closing regexp delimiter "{delim}": skipping this rule')


def _compile_posix(pattern: str, flags: str) -> re.Pattern[str]:
    icase, multiline, extended = True, False, True  # regexp_table(5) defaults
    for f in flags:
        if f == "i":
            icase = not icase
        elif f == "m":
            multiline = not multiline
        elif f == "x":
            extended = not extended
        else:
            raise RuleError(f'unknown regexp option "{f}": skipping this rule')
    opts = (re.IGNORECASE if icase else 0) | (re.MULTILINE if multiline else re.DOTALL)
    return re.compile(posix_to_python(pattern, extended, multiline), opts)


_PCRE_FLAGS = {"i": True, "m": False, "s": True, "x": False, "A": False, "E": False,
               "U": False, "X": False}  # pcre_table(5) defaults


def _compile_pcre(pattern: str, flags: str) -> re.Pattern[str]:
    state = dict(_PCRE_FLAGS)
    for f in flags:
        if f not in state:
            raise RuleError(f'unknown regexp option "{f}": skipping this rule')
        state[f] = not state[f]
    opts = ((re.IGNORECASE if state["i"] else 0) | (re.MULTILINE if state["m"] else 0)
            | (re.DOTALL if state["s"] else 0) | (re.VERBOSE if state["x"] else 0))
    text = pcre_to_python(pattern, state["E"] and not state["m"], state["U"])
    if state["A"]:
        text = f"\\A(?:{text})"
    return re.compile(text, opts)


_SUBST = re.compile(r"\$(?:([0-9]+)|\{([0-9]+)\}|\(([0-9]+)\)|(\$)|([A-Za-z_]\w*)|)")


def parse_template(text: str, groups: int) -> Template:
    """`$1`, `${1}`, `$(1)` and `$$` in a result; other `$` uses are errors (as in Postfix)."""
    parts: list[str | int] = []
    pos = 0
    for m in _SUBST.finditer(text):
        parts.append(text[pos:m.start()])
        pos = m.end()
        number = m.group(1) or m.group(2) or m.group(3)
        if number is not None:
            if int(number) > groups:
                raise RuleError(f'out of range replacement index "{number}": '
                                "skipping this rule")
            parts.append(int(number))
        elif m.group(4):
            parts.append("$")
        elif m.group(5):
            raise RuleError(f'non-numeric replacement index "{m.group(5)}": '
                            "skipping this rule")
        else:
            raise RuleError(f'bad replacement syntax in "{text}": skipping this rule')
    parts.append(text[pos:])
    merged = tuple(p for p in parts if p != "")
    return merged or ("",)


def expand(template: Template, m: re.Match[str] | None) -> str:
    if len(template) == 1 and isinstance(template[0], str):
        return template[0]
    assert m is not None  # templates with $n are refused in negated rules
    return "".join(p if isinstance(p, str) else (m.group(p) or "") for p in template)


class FilePatternTable(PatternTable, FileTable):
    def __init__(self, spec: str, kind: str, path: str):
        self._remember(path)
        super().__init__(spec, kind, read_text(path, spec), path)


def open_pattern_table(spec: str, kind: str, name: str) -> Table:
    """regexp:/file, pcre:/file, or the inline form regexp:{ {/a/ X}, {/b/ Y} } (3.7+)."""
    if name.lstrip().startswith("{"):
        lines = [strip_braces(e) for e in split_list(strip_braces(name))]
        return PatternTable(spec, kind, "\n".join(lines) + "\n", spec)
    return FilePatternTable(spec, kind, name)
