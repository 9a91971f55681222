"""Parsing of command arguments: `FROM:<addr> PARAMS`, `TO:<addr> PARAMS`, ESMTP parameters.

The address rules follow Postfix's leniency (smtp-and-logs.md §2): `<>` may be left out and a
space may follow the colon unless strict_rfc821_envelopes=yes; a source route (`@a,@b:u@c`)
is dropped (RFC 5321 4.1.1.3, "MUST accept and ignore").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from affix.ascii import is_digits
from affix.reply import Reply
from affix.smtpd import replies


class ArgError(Exception):
    """A command argument the client got wrong; `reply` says what."""

    def __init__(self, reply: Reply):
        super().__init__(str(reply))
        self.reply = reply


@dataclass(frozen=True, slots=True)
class Path:
    address: str
    params: tuple[str, ...]  # the ESMTP parameters as sent (KEYWORD or KEYWORD=value)


_SPECIALS = frozenset('<>()[],;:\\"')
# an address with none of these needs no character-by-character look (check_address)
_PLAIN_ADDRESS = re.compile(r'[^\x00-\x20\x7f"\\<>(),;]*')


# white space between the words of a command, as Postfix's smtpd splits them: a TAB or a
# bare CR separates words as a space does
SPACE = " \t\n\v\f\r"
_WORD_END = re.compile(r"[ \t\n\v\f\r]+")


def split_word(text: str) -> tuple[str, str]:
    """(the first word, the rest after the white space that ends it)."""
    m = _WORD_END.search(text)
    return (text, "") if m is None else (text[:m.start()], text[m.end():])


def parse_path(arg: str, keyword: str, strict: bool) -> Path | None:
    """Parse `FROM:<addr> ...` (keyword "FROM") or `TO:<addr> ...`.

    Returns None for a syntax error (no `KEYWORD:`); raises ValueError for a bad address.
    """
    head = keyword + ":"
    if arg[:len(head)].upper() != head:
        return None
    rest = arg[len(head):]
    if rest[:1] and rest[0] in SPACE:
        if strict:
            raise ValueError("space after colon")
        rest = rest.lstrip(SPACE)
    if not rest:
        return None
    if rest[0] == "<":
        end = _closing_bracket(rest)
        if end < 0 or (end + 1 < len(rest) and rest[end + 1] not in SPACE):
            raise ValueError("unbalanced <>")
        address, tail = rest[1:end].strip(), rest[end + 1:]
    elif strict:
        raise ValueError("missing <>")
    else:
        address, tail = split_word(rest)
    return Path(check_address(address), tuple(w for w in _WORD_END.split(tail) if w))


def address_token(arg: str) -> str:
    """The address as the client wrote it in `FROM:<a b@x> SIZE=1` (`<a b@x>`), for the
    warning about a bad one (Postfix names the address, not the whole argument)."""
    rest = arg.partition(":")[2].lstrip(SPACE)
    start = rest.find(">") if rest.startswith("<") else 0  # `<...>` may hold spaces
    end = _WORD_END.search(rest, max(start, 0))
    return rest if end is None else rest[:end.start()]


def _closing_bracket(text: str) -> int:
    if '"' not in text and "\\" not in text:
        return text.find(">", 1)
    quoted = escaped = False
    for i, c in enumerate(text[1:], 1):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif c == ">" and not quoted:
            return i
    return -1


def check_address(address: str) -> str:
    """Validate one mailbox (or "" for <>); drop a source route. Raises ValueError."""
    if address.startswith("@"):
        colon = address.find(":")
        if colon < 0:
            raise ValueError("bad source route")
        address = address[colon + 1:]
    if _PLAIN_ADDRESS.fullmatch(address):
        return address
    quoted = escaped = False
    for c in address:
        if escaped:
            escaped = False
        elif c == "\\" and quoted:
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif ord(c) < 32 or ord(c) == 127:
            raise ValueError("control character")
        elif not quoted and (c in " \t" or (c in _SPECIALS and c not in "[]:")):
            raise ValueError(f"bad character {c!r}")
    if quoted:
        raise ValueError("unbalanced quote")
    return address


def split_param(param: str) -> tuple[str, str | None]:
    """`KEY=value` -> ("KEY", "value"); `KEY` -> ("KEY", None)."""
    key, eq, value = param.partition("=")
    return key.upper(), (value if eq else None)


def parse_size(value: str | None) -> int:
    """MAIL SIZE= (RFC 1870): digits only; a value past any file size is its own error."""
    if not value or not is_digits(value):
        raise ArgError(replies.BAD_SIZE)
    if len(value) > 18:
        raise ArgError(replies.SIZE_FS_LIMIT)
    return int(value)


def is_xtext(value: str) -> bool:
    """RFC 3461 4: xtext is printable ASCII except `+` and `=`, with `+XX` hex escapes."""
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "+":
            hexpart = value[i + 1:i + 3]
            if len(hexpart) != 2 or any(h not in "0123456789ABCDEF" for h in hexpart):
                return False
            i += 3
            continue
        if not (33 <= ord(c) <= 126) or c == "=":
            return False
        i += 1
    return True


def printable_xtext(value: str) -> str | None:
    """The decoded text of an xtext value, or None when the value is no xtext or decodes to
    anything but printable ASCII: a DSN quotes ENVID and ORCPT in its header fields, so a
    `+0A` in them would let a client write lines of its own there."""
    if not is_xtext(value):
        return None
    text = xtext_decode(value)
    return text if all(32 <= ord(c) <= 126 for c in text) else None


def xtext_decode(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "+":
            out.append(chr(int(value[i + 1:i + 3], 16)))
            i += 3
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


_NOTIFY = frozenset({"SUCCESS", "FAILURE", "DELAY"})


def unknown_notify_word(value: str | None) -> str | None:
    """The first word of a NOTIFY= value that RFC 3461 does not define (for the warning)."""
    return next((i for i in (value or "").upper().split(",")
                 if i and i != "NEVER" and i not in _NOTIFY), None)


def parse_notify(value: str | None) -> str:
    """RFC 3461 4.1: NEVER alone, or a list of SUCCESS, FAILURE, DELAY."""
    if not value:
        raise ArgError(replies.BAD_NOTIFY)
    items = value.upper().split(",")
    if items == ["NEVER"] or (items and all(i in _NOTIFY for i in items)
                              and len(set(items)) == len(items)):
        return ",".join(items)
    raise ArgError(replies.BAD_NOTIFY)


def parse_orcpt(value: str | None) -> str:
    """RFC 3461 4.2: `addr-type;xtext`."""
    if not value or ";" not in value:
        raise ArgError(replies.BAD_ORCPT)
    kind, _, addr = value.partition(";")
    text = printable_xtext(addr)
    if not kind or not text or not kind.replace("-", "").isalnum():
        raise ArgError(replies.BAD_ORCPT)
    return f"{kind};{text}"
