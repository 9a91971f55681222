"""Queue ids (smtp-and-logs.md §3).

Short ids: five upper-case hex digits of the microseconds, then the queue file's inode number in
upper-case hex (`56FE42EB09`). Long ids (enable_long_queue_ids=yes): seconds and microseconds in
base 52 (microseconds always 4 digits), the separator `z`, then the inode in base 51. Both are
derived from the inode, so two live queue files on one file system never share an id.
"""

from __future__ import annotations

import re

# No vowels, so an id never spells a word; base 51 leaves out `z`, the long-id separator.
_B52 = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"
_B51 = _B52[:-1]

_SHORT = re.compile(r"[0-9A-F]{6,}")
# The time digits (base 52) may contain `z`; the inode digits (base 51) never do, so the last
# `z` is the separator.
_LONG = re.compile(r"[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}z[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]+")


def _encode(value: int, alphabet: str, width: int = 1) -> str:
    digits = []
    while value:
        value, r = divmod(value, len(alphabet))
        digits.append(alphabet[r])
    out = "".join(reversed(digits)) or alphabet[0]
    return out.rjust(width, alphabet[0])


def short_id(microseconds: int, inode: int) -> str:
    return f"{microseconds % 0x100000:05X}{inode:X}"


def long_id(seconds: int, microseconds: int, inode: int) -> str:
    return _encode(seconds, _B52, 6) + _encode(microseconds, _B52, 4) + "z" + _encode(inode, _B51)


def make_id(now: float, inode: int, long_ids: bool) -> str:
    seconds = int(now)
    micros = round((now - seconds) * 1_000_000) % 1_000_000
    return long_id(seconds, micros, inode) if long_ids else short_id(micros, inode)


def is_queue_id(text: str) -> bool:
    """True for a well-formed short or long id (guards file names taken from the command line)."""
    return bool(_SHORT.fullmatch(text) or _LONG.fullmatch(text))


def hash_dir(queue_id: str) -> str:
    """The one-level hash subdirectory used by the deferred queue and the logs (its first char)."""
    return queue_id[0]
