"""A light header parser for cleanup: logical headers as raw bytes, and the header fixes.

The message is kept as bytes (LF line ends); a logical header is one `Name: value` line plus its
continuation lines, exactly as received. Nothing is re-encoded, so what is delivered is what was
sent, apart from the headers cleanup deliberately adds or drops.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass


@dataclass
class Message:
    headers: list[bytes]  # logical headers, each ending in b"\n"
    body: bytes  # everything after the header block, including the empty separator line

    def join(self) -> bytes:
        return b"".join(self.headers) + self.body


# RFC 5322 2.2: a field name is printable ASCII except colon, followed by a colon
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")


def is_header(line: bytes) -> bool:
    return _FIELD_NAME.match(line) is not None


# One logical header: a `Name:` line and the continuation lines (white space first) after it;
# a line ends after its LF, or with the content.
_LOGICAL_HEADER = re.compile(rb"[\x21-\x39\x3b-\x7e]+:[^\n]*(?:\n|\Z)(?:[ \t][^\n]*(?:\n|\Z))*")


def split(content: bytes) -> Message:
    """Split content into logical headers and the rest (which starts at the first non-header)."""
    headers: list[bytes] = []
    pos = 0
    while (m := _LOGICAL_HEADER.match(content, pos)) is not None:  # a match per header
        headers.append(m.group())
        pos = m.end()
    if headers and not headers[-1].endswith(b"\n"):
        headers[-1] += b"\n"
    return Message(headers, content[pos:])


def name_of(header: bytes) -> str:
    colon = header.find(b":")
    return _name(header[:colon] if colon >= 0 else header)


@functools.lru_cache(maxsize=256)  # cleanup looks at each header's name several times
def _name(raw: bytes) -> str:
    return raw.decode("ascii", "replace").strip().lower()


def value_of(header: bytes) -> str:
    """The unfolded value, surrounding white space removed."""
    value = header.partition(b":")[2].decode("utf-8", "surrogateescape")
    return " ".join(value.replace("\r", "").replace("\n", " ").split())


def find(msg: Message, name: str) -> bytes | None:
    name = name.lower()
    return next((h for h in msg.headers if name_of(h) == name), None)


def first(msg: Message, names: frozenset[str]) -> dict[str, bytes]:
    """The first header of each of `names` (lower case) that the message has, in one pass."""
    found: dict[str, bytes] = {}
    for h in msg.headers:
        name = name_of(h)
        if name in names and name not in found:
            found[name] = h
    return found


def count(msg: Message, name: str) -> int:
    name = name.lower()
    return [name_of(h) for h in msg.headers].count(name)


def drop(msg: Message, names: frozenset[str]) -> None:
    """message_drop_headers: remove every header whose name is listed (case-insensitive)."""
    msg.headers = [h for h in msg.headers if name_of(h) not in names]


# Headers whose addresses cleanup qualifies in local submissions (Postfix rewrites them too).
ADDRESS_HEADERS = frozenset({"from", "sender", "reply-to", "to", "cc", "resent-from",
                             "resent-sender", "resent-to", "resent-cc", "return-receipt-to",
                             "errors-to"})


def qualify_addresses(msg: Message, domain: str) -> None:
    """`From: joe`, `To: bob, Carol <carol>` in a local submission become addresses in
    `domain` ($myorigin). A header with no bare address is left byte for byte; one with group
    syntax (`list:;`) too, rather than risk breaking it."""
    for i, header in enumerate(msg.headers):
        if name_of(header) not in ADDRESS_HEADERS:
            continue
        name, _, raw = header.partition(b":")
        value = raw.decode("utf-8", "surrogateescape")
        if ":" in value or ";" in value or not _may_hold_a_bare_name(value):
            continue
        import email.utils  # only here: most mail never needs it (it loads datetime)

        pairs = email.utils.getaddresses([" ".join(value.split())])
        if not any(addr and "@" not in addr for _, addr in pairs):
            continue
        text = ", ".join(named_address(phrase, addr if "@" in addr else f"{addr}@{domain}")
                         for phrase, addr in pairs if addr)
        msg.headers[i] = name + b": " + text.encode("utf-8", "surrogateescape") + b"\n"


def _may_hold_a_bare_name(value: str) -> bool:
    """False for the usual header, one address that has its domain (`a@b`, `Name <a@b>`):
    the address parser, slow for what it does, runs only where there is something to do."""
    if "," in value:
        return True
    if "<" in value:
        return "@" not in value.rpartition("<")[2]
    return "@" not in value


def named_address(phrase: str, addr: str) -> str:
    """`Phrase <addr>` with the phrase quoted as RFC 5322 needs; `addr` alone without one."""
    import email.utils

    if not phrase:
        return addr
    try:
        return email.utils.formataddr((phrase, addr))
    except UnicodeError:  # a non-ASCII address: the phrase as written
        return f"{phrase} <{addr}>"


def make(name: str, value: str) -> bytes:
    return f"{name}: {value}\n".encode("utf-8", "surrogateescape")


# (the second, its zone offset and name) -> the text rfc2822_date made for them last
_last_date: tuple[tuple[float, int, str], str] = ((float("nan"), 0, ""), "")


def rfc2822_date(when: float | None = None) -> str:
    """`Tue, 23 Jul 2024 11:00:40 +0900 (JST)`, the form Postfix writes (day space-padded).
    Built from time.localtime alone: datetime and email.utils would cost every process memory
    (strftime's %a and %b are English: affix never sets LC_TIME)."""
    global _last_date
    when = time.time() if when is None else when
    tm = time.localtime(when)
    # the text depends on the second and the zone alone; a message asks twice (Received, Date)
    key = (when // 1, tm.tm_gmtoff, tm.tm_zone)
    last_key, text = _last_date
    if key != last_key:
        off = tm.tm_gmtoff // 60
        sign = "+" if off >= 0 else "-"
        off = abs(off)
        zone = f"{sign}{off // 60:02d}{off % 60:02d}"
        text = time.strftime(f"%a, {tm.tm_mday:2d} %b %Y %H:%M:%S {zone} (%Z)", tm)
        _last_date = (key, text)
    return text


def message_id_value(queue_id: str, hostname: str, long_ids: bool,
                     when: float | None = None) -> str:
    """Postfix's added Message-Id: <YYYYMMDDhhmmss.QID@HOST> (UTC), or <QID@HOST> (long ids)."""
    if long_ids:
        return f"<{queue_id}@{hostname}>"
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() if when is None else when))
    return f"<{stamp}.{queue_id}@{hostname}>"
