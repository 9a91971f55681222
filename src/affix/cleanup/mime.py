"""MIME structure for content inspection (cleanup-and-delivery.md §1).

walk() cuts the body of a message into pieces that say which check applies to them: the
headers of a MIME part ("mime"), the headers of an attached message/rfc822 ("nested"), or one
body line ("body"; boundaries, preamble, text and attachment contents alike). The pieces
concatenate back to the input byte for byte, so cleanup edits only what a check changes.

As Postfix's MIME parser does: a multipart boundary is recognized by its prefix (`--B`, and
`--B--` closes the multipart); the parts of multipart/digest default to message/rfc822; an
attached message with an encoding other than 7bit, 8bit or binary is body text; structure
deeper than mime_nesting_limit is body text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from affix.cleanup.headers import is_header, name_of, value_of

MIME, NESTED, BODY = "mime", "nested", "body"
_IDENTITY = ("", "7bit", "8bit", "binary")  # RFC 2045 6.4: message/* must not be encoded
_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"]*)"|([^\s;]+))', re.I)


@dataclass(frozen=True)
class Piece:
    kind: str  # MIME or NESTED (one logical header) or BODY (one line, or a chunk of one)
    data: bytes  # exactly as in the message, line end included
    offset: int = 0  # BODY: where the line starts in its body segment


def is_mime_header(name: str) -> bool:
    """MIME-Version and Content-* (lowercase name)."""
    return name == "mime-version" or name.startswith("content-")


@dataclass(frozen=True)
class _Entity:
    kind: str  # "multipart", "message" or "other"
    boundary: bytes = b""
    digest: bool = False  # multipart/digest: parts default to message/rfc822


def _entity(headers: list[bytes], in_digest: bool) -> _Entity:
    ctype = next((h for h in headers if name_of(h) == "content-type"), None)
    if ctype is None:
        return _Entity("message" if in_digest else "other")
    value = value_of(ctype).lower()
    major, _, minor = value.partition(";")[0].strip().partition("/")
    if major == "multipart":
        m = _BOUNDARY.search(ctype.partition(b":")[2])
        if m is None or not (m.group(1) or m.group(2)):
            return _Entity("other")
        return _Entity("multipart", m.group(1) if m.group(1) is not None else m.group(2),
                       minor.strip() == "digest")
    if major == "message" and minor.strip() == "rfc822":
        cte = next((h for h in headers if name_of(h) == "content-transfer-encoding"), None)
        if cte is None or value_of(cte).lower() in _IDENTITY:
            return _Entity("message")
    return _Entity("other")


def has_structure(primary: list[bytes], nesting_limit: int, mime: bool = True) -> bool:
    """Whether walk() may find headers in the body (a multipart or an attached message):
    without, every piece it gives is body text."""
    return _opens(_entity(primary, False).kind, 0, nesting_limit if mime else 0)


def _opens(kind: str, depth: int, limit: int) -> bool:
    """Whether an entity's content is looked into (parts, an attached message's headers)."""
    return depth < limit and kind != "other"


@dataclass
class _Level:
    boundary: bytes
    digest: bool
    depth: int


class _Walker:
    def __init__(self, chunk: int, nesting_limit: int, skip: int):
        self.chunk = max(1, chunk)
        self.skip = skip
        self.limit = nesting_limit
        self.levels: list[_Level] = []  # enclosing multiparts, innermost last
        self.depth = 0
        self.in_headers = False
        self.header_kind = MIME
        self.block: list[bytes] = []  # raw headers of the current block
        self.current = b""  # the logical header being collected
        self.offset = 0
        self.in_digest = False

    def start_entity(self, headers: list[bytes]) -> None:
        """The header block of an entity ended: decide what its content is."""
        entity = _entity(headers, self.in_digest)
        self.offset = 0
        if not _opens(entity.kind, self.depth, self.limit):
            self.in_headers = False
        elif entity.kind == "multipart":
            self.depth += 1
            self.levels.append(_Level(entity.boundary, entity.digest, self.depth))
            self.in_headers = False
        else:  # an attached message: its own header block follows
            self.depth += 1
            self.begin_headers(NESTED, in_digest=False)

    def begin_headers(self, kind: str, in_digest: bool) -> None:
        self.in_headers, self.header_kind, self.in_digest = True, kind, in_digest
        self.block, self.current = [], b""

    def boundary(self, line: bytes) -> bool:
        """A `--B` or `--B--` line of an enclosing multipart (innermost first)."""
        for i in range(len(self.levels) - 1, -1, -1):
            level = self.levels[i]
            b = level.boundary
            if line[2:2 + len(b)] != b:
                continue
            if line[2 + len(b):4 + len(b)] == b"--":  # the end of that multipart
                del self.levels[i:]
                self.depth = level.depth - 1
                self.in_headers = False
            else:
                del self.levels[i + 1:]
                self.depth = level.depth
                self.begin_headers(MIME, level.digest)
            self.offset = 0
            return True
        return False

    def lines(self, body: bytes) -> Iterator[Piece]:
        pos, end = 0, len(body)
        while pos < end:
            if self.skip and not self.in_headers and self.offset >= self.skip:
                # nothing more of this segment is inspected: pass it on in one piece, up to
                # the next line that may be a boundary
                stop = self.next_candidate(body, pos)
                if stop > pos:
                    yield Piece(BODY, body[pos:stop], self.offset)
                    self.offset += stop - pos
                    pos = stop
                    continue
            nl = body.find(b"\n", pos)
            stop = end if nl < 0 else nl + 1
            yield from self.line(body[pos:stop])
            pos = stop
        yield from self.flush_header()

    def next_candidate(self, body: bytes, pos: int) -> int:
        """Where the next line starting with `--` begins (the end outside a multipart)."""
        if not self.levels:
            return len(body)
        if body.startswith(b"--", pos):
            return pos
        found = body.find(b"\n--", pos)
        return len(body) if found < 0 else found + 1

    def line(self, line: bytes) -> Iterator[Piece]:
        if line.startswith(b"--") and self.levels:
            yield from self.flush_header()
            if self.boundary(line):
                yield from self.body_line(line)
                return
        if self.in_headers:
            yield from self.header_line(line)
        else:
            yield from self.body_line(line)

    def header_line(self, line: bytes) -> Iterator[Piece]:
        if line[:1] in (b" ", b"\t") and self.current:
            self.current += line
            return
        yield from self.flush_header()
        if is_header(line):
            self.current = line
            return
        # the end of the header block: an empty line (body) or text without one
        self.start_entity(self.block)
        if self.in_headers and line.strip(b"\r\n"):
            # an attached message whose headers follow its part headers without an empty line
            yield from self.header_line(line)
            return
        yield from self.body_line(line)

    def flush_header(self) -> Iterator[Piece]:
        if self.current:
            self.block.append(self.current)
            kind = MIME if is_mime_header(name_of(self.current)) else self.header_kind
            yield Piece(kind, self.current)
            self.current = b""

    def body_line(self, line: bytes) -> Iterator[Piece]:
        # line_length_limit: a long line is inspected in chunks, as Postfix stores it
        for start in range(0, max(len(line), 1), self.chunk):
            piece = line[start:start + self.chunk]
            yield Piece(BODY, piece, self.offset)
            self.offset += len(piece)


def walk(primary: list[bytes], body: bytes, chunk: int, nesting_limit: int,
         mime: bool = True, skip_after: int = 0) -> Iterator[Piece]:
    """The pieces of `body`, given the primary headers that describe it. Lines are cut at
    LF only (a CR alone does not end a line). With skip_after, body text from that offset of
    its segment on comes in large pieces (up to the next possible boundary): the caller does
    not inspect it."""
    walker = _Walker(chunk, nesting_limit if mime else 0, skip_after)
    walker.start_entity(primary)
    if walker.in_headers and body[:1] == b"\n":
        # a message/rfc822 primary: the separator line, then the attached message's headers
        yield Piece(BODY, b"\n", 0)
        body = body[1:]
    yield from walker.lines(body)
