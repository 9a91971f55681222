"""DATA content: find the end of the message in a byte buffer and un-stuff it (RFC 5321 4.5.2).

The reader works on whole buffers, not on one awaited line at a time: the session hands it
the bytearray it reads into. While the marker is not there, only a large buffer is processed
early (in complete lines) to keep memory bounded; a small message is processed in one pass at
its end. Each pass over the content costs about as much as the rest of a small message's
handling, so there are few: one search for `<LF>.` finds the end marker and tells whether any
line needs un-stuffing (usually none does), one count of line ends, one CRLF -> LF replace.

Line ends (smtpd_forbid_bare_newline, smtp-and-logs.md §2 "DATA content handling"):
- mode "no": LF alone ends a line, so `<LF>.<LF>` and `<LF>.<CR><LF>` end the message too;
- modes "normalize" and "reject": LF alone still ends a line inside the content, but only
  `<CR><LF>.<CR><LF>` ends the message. That is the SMTP smuggling fix: an embedded `\n.\n`
  or `\r.\r` can never split one message into two;
- mode "reject" also remembers that a bare LF was seen; the session rejects at the end.
A CR that ends no line is dropped before a line end and stored as a space elsewhere
(without_bare_cr), in every mode.
"""

from __future__ import annotations

import re

_EARLY = 65536  # process complete lines once this much is buffered


_CR_BEFORE_LF = re.compile(rb"\r+\n")


def without_bare_cr(text: bytes | bytearray) -> bytes | bytearray:
    """Content with LF line ends, without a CR that ends no line: those just before a line's
    end go (as Postfix's smtp_get() drops them), any other becomes a space (as Postfix
    stores it, seen in its queue files): a `<CR>.<CR>` kept raw might end the message at a
    later hop that reads CR as a line end."""
    if b"\r" not in text:
        return text
    return _CR_BEFORE_LF.sub(b"\n", text).replace(b"\r", b" ")


class DataReader:
    __slots__ = ("strict", "limit", "parts", "size", "too_big", "bare_lf", "raw_bytes",
                 "_scan", "_line_start", "_prev_crlf", "_dots")

    def __init__(self, strict_end: bool, size_limit: int):
        self.strict = strict_end  # only CRLF.CRLF ends the message
        self.limit = size_limit  # 0 = unlimited
        self.parts: list[bytes | bytearray] = []  # un-stuffed content, LF line ends
        self.size = 0  # Postfix's count: each line's length + 2
        self.too_big = False
        self.bare_lf = False
        self.raw_bytes = 0  # bytes consumed from the client (for "DATA (N bytes)")
        self._scan = 0  # where the next marker search starts in the buffer
        self._line_start = True  # the buffer starts at the beginning of a line
        self._prev_crlf = True  # ... and the previous line ended with CRLF
        self._dots = False  # a line after an LF starts with a dot: un-stuffing has work

    def feed(self, buf: bytearray) -> bool:
        """Consume content from `buf`; True once the end marker has been consumed."""
        if self._line_start and self._at_end_marker(buf):
            return True
        end, mlen = self._find_marker(buf)
        if end < 0:
            if len(buf) > _EARLY:
                self._consume_early(buf)
            return False
        body_end = end + (2 if self.strict else 1)
        self._take(buf, body_end)
        rest = mlen - body_end  # the marker's `.` line
        self.raw_bytes += rest
        del buf[:rest]
        return True

    def _at_end_marker(self, buf: bytearray) -> bool:
        if buf[:3] == b".\r\n" and (self._prev_crlf or not self.strict):
            del buf[:3]
            self.raw_bytes += 3
            return True
        if not self.strict and buf[:2] == b".\n":
            del buf[:2]
            self.raw_bytes += 2
            return True
        return False

    def _find_marker(self, buf: bytearray) -> tuple[int, int]:
        """(index of the marker's leading line end, marker end index) or (-1, 0). Until a
        line needs un-stuffing, every `<LF>.` is looked at (one search does both jobs); after
        that, only the marker is searched for, so that content made of dot lines cannot make
        each line cost a step in Python."""
        if not self._dots:
            i = buf.find(b"\n.", self._scan)
            while i >= 0:
                after = buf[i + 2:i + 4]
                if not self.strict and after[:1] == b"\n":
                    return i, i + 3
                if after == b"\r\n" and (not self.strict or buf[i - 1:i] == b"\r"):
                    return (i - 1, i + 4) if self.strict else (i, i + 4)
                if after in (b"", b"\r"):  # the rest of this line has not arrived yet
                    self._scan = i
                    return -1, 0
                self._dots = True
                self._scan = i
                break
            else:
                self._scan = max(0, len(buf) - 1)  # a line end at the very end may start `.`
                return -1, 0
        start = self._scan
        self._scan = max(0, len(buf) - 4)  # where a marker cut short may have begun
        if self.strict:
            i = buf.find(b"\r\n.\r\n", max(0, start - 1))
            return (i, i + 5) if i >= 0 else (-1, 0)
        a = buf.find(b"\n.\r\n", start)
        b = buf.find(b"\n.\n", start)
        if b >= 0 and (a < 0 or b < a):
            return b, b + 3
        return (a, a + 4) if a >= 0 else (-1, 0)

    def _consume_early(self, buf: bytearray) -> None:
        cut = buf.rfind(b"\n") + 1
        if cut == 0:  # one very long line: cut it, but never between CR and LF
            cut = len(buf) - 1
        self._take(buf, cut)

    def _take(self, buf: bytearray, n: int) -> None:
        """Move the first n bytes of buf (complete lines, or a line's head) into the message."""
        raw = buf[:n]
        del buf[:n]
        self.raw_bytes += n
        self._scan = 0
        if not raw:
            return
        lf_count = raw.count(b"\n")
        text = raw.replace(b"\r\n", b"\n") if lf_count else raw
        if lf_count != len(raw) - len(text):  # fewer CRLFs than LFs
            self.bare_lf = True
        text = without_bare_cr(text)
        if self._line_start and text[:1] == b".":
            text = text[1:]
        if self._dots:
            text = text.replace(b"\n.", b"\n")
        ends_line = raw[-1:] == b"\n"
        self._prev_crlf = raw[-2:] == b"\r\n" if ends_line else self._prev_crlf
        self._line_start = ends_line
        self.size += len(text) + lf_count  # un-stuffing and CRLF -> LF keep every LF
        if self.too_big:
            return
        if self.limit and self.size > self.limit:
            self.too_big = True
            self.parts.clear()  # read and discard the rest (smtp-and-logs.md §2)
        else:
            self.parts.append(text)

    def content(self) -> bytes:
        return b"".join(self.parts)


class ChunkReader:
    """One BDAT chunk (RFC 3030 2): exactly `remaining` bytes, no un-stuffing."""

    __slots__ = ("size", "remaining", "keep")

    def __init__(self, size: int, keep: bool):
        self.size = size
        self.remaining = size
        self.keep = keep  # False: read and discard (no transaction, or a failed one)

    def take(self, buf: bytearray) -> bytes:
        n = min(self.remaining, len(buf))
        data = bytes(buf[:n])
        del buf[:n]
        self.remaining -= n
        return data
