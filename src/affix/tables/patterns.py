"""Translating POSIX (regexp:) and PCRE (pcre:) patterns into Python `re` syntax.

POSIX ERE mapped onto `re`: bracket expressions (`[[:alpha:]]`, a literal `]` first, a
backslash that is literal inside brackets), `\\<` `\\>` word boundaries, and anchors (`$` is
the end of the string, `.` matches a newline unless the `m` flag is on, as with REG_NEWLINE).
With the `x` flag turned off the pattern is a basic RE (`\\(` groups, `\\{n\\}` intervals).
Not reproduced: POSIX picks the longest of several alternatives at the same position, Python
the first one that matches (`/a|ab/` captures `a`, not `ab`).
"""

from __future__ import annotations

import re

from affix.ascii import is_digits

_POSIX_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v", "blank": " \\t", "xdigit": "0-9A-Fa-f",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "print": "\\x20-\\x7e", "graph": "\\x21-\\x7e", "cntrl": "\\x00-\\x1f\\x7f", "word": "\\w",
}
_CLASS_SPECIAL = "\\[]^&~|"


class PatternError(ValueError):
    """A pattern that cannot be translated (the table skips the rule with a warning)."""


def bracket(pat: str, i: int, backslash_escapes: bool, newline: bool = False) -> tuple[str, int]:
    """Translate the bracket expression starting at pat[i] == '['; returns (text, next i)."""
    out = ["["]
    j = i + 1
    if j < len(pat) and pat[j] == "^":
        out.append("^\\n" if newline else "^")
        j += 1
    first = True
    while j < len(pat):
        c = pat[j]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), j + 1
        first = False
        if c == "[" and pat[j + 1:j + 2] in (":", "=", "."):
            end = pat.find(pat[j + 1] + "]", j + 2)
            if end < 0:
                raise PatternError("Unmatched [ or [^")
            name = pat[j + 2:end]
            if pat[j + 1] == ":":
                if name not in _POSIX_CLASSES:
                    raise PatternError(f"Invalid character class name: {name}")
                out.append(_POSIX_CLASSES[name])
            else:
                out.append(re.escape(name))
            j = end + 2
            continue
        if c == "\\" and backslash_escapes and j + 1 < len(pat):
            out.append(pat[j:j + 2])
            j += 2
            continue
        out.append("\\" + c if c in _CLASS_SPECIAL else c)
        j += 1
    raise PatternError("Unmatched [ or [^")


def posix_to_python(pat: str, extended: bool = True, newline: bool = False) -> str:
    """POSIX ERE (or BRE when not `extended`) to `re` syntax; `newline` is REG_NEWLINE."""
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "[":
            text, i = bracket(pat, i, backslash_escapes=False, newline=newline)
            out.append(text)
            continue
        if c == "\\" and i + 1 < n:
            out.append(_posix_escape(pat[i + 1], extended))
            i += 2
            continue
        if not extended and c in "(){}|+?":
            out.append("\\" + c)  # BRE: these are literals unless escaped
        elif c == "$" and not newline and (extended or i == n - 1):
            out.append("\\Z")  # POSIX: end of string only (Python's $ also allows a final \n)
        elif c == "$" and not extended and i != n - 1:
            out.append("\\$")
        elif c == "^" and not extended and i != 0:
            out.append("\\^")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _posix_escape(d: str, extended: bool) -> str:
    if not extended and d in "(){}|+?":
        return d
    if d in "<>":
        return "\\b"  # GNU word boundaries
    if d == "`":
        return "\\A"
    if d == "'":
        return "\\Z"
    if is_digits(d) or d in "wWsSbB":
        return "\\" + d
    return re.escape(d)


def pcre_to_python(pat: str, dollar_end_only: bool = False, ungreedy: bool = False) -> str:
    """The PCRE features Python spells differently: \\z, \\Z, (?<name>, \\Q..\\E, \\x{..},
    POSIX classes in brackets, and the E (dollar end only) and U (ungreedy) flags."""
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "\\" and i + 1 < n:
            text, i = _pcre_escape(pat, i)
            out.append(text)
            continue
        if c == "[":
            text, i = bracket(pat, i, backslash_escapes=True)
            out.append(text)
            continue
        if pat.startswith("(?<", i) and pat[i + 3:i + 4] not in ("=", "!"):
            out.append("(?P<")
            i += 3
            continue
        if c == "$" and dollar_end_only:
            out.append("\\Z")
        elif c in "*+?}" and ungreedy and _is_quantifier(pat, i):
            if pat[i + 1:i + 2] == "?":
                out.append(c)  # PCRE_UNGREEDY: a trailing ? makes it greedy again
                i += 2
                continue
            out.append(c + "?")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _is_quantifier(pat: str, i: int) -> bool:
    if pat[i] == "?":
        return i > 0 and pat[i - 1] not in "(*+?}"
    if pat[i] == "}":
        return re.search(r"\{\d+(,\d*)?\}$", pat[:i + 1]) is not None
    return True


def _pcre_escape(pat: str, i: int) -> tuple[str, int]:
    d = pat[i + 1]
    if d == "z":
        return "\\Z", i + 2
    if d == "Z":
        return "(?=\\n?\\Z)", i + 2
    if d == "Q":
        end = pat.find("\\E", i + 2)
        end = len(pat) if end < 0 else end
        return re.escape(pat[i + 2:end]), end + 2
    if d == "x" and pat[i + 2:i + 3] == "{":
        end = pat.find("}", i + 3)
        if end < 0:
            raise PatternError("missing } after \\x{")
        return re.escape(chr(int(pat[i + 3:end], 16))), end + 1
    return pat[i:i + 2], i + 2
