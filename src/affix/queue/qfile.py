"""The queue file format (version 2): a small text envelope, then the content, then a trailer.

```
AFFIXQ 2\\n                       magic and format version
F EW------\\n                     flags, fixed width (8 bytes) so they can be rewritten in place:
                                   [0] E = force-expired, [1] W = delay warning sent,
                                   [2] H = put on hold by cleanup (HOLD action)
I 4A1B2C3D4E\\n                   the queue id: the file's own name
T 1721700040.123456\\n            arrival time (time.time() of MAIL FROM)
S sender@example.org\\n           envelope sender ("" = null sender)
A name=value\\n                   attributes: client_name, client_addr, helo, protocol, ...
R - address\\torig\\tnotify[\\torcpt]\\n   one per recipient; the byte after `R ` is its status:
                                   `-` pending, `D` delivered, `B` bounced (in place, pwrite)
P      \\n                         padding (spaces) that moves the next `I` to a new sector
I 4A1B2C3D4E\\n                   the id again, before a recipient whose status byte would
                                   not share a 512-byte sector with an `I` record otherwise
C 1532\\n                         content length in bytes, then exactly that many bytes
<content: the message, LF line ends>
Z 1532 1a2b3c4d\\n                trailer: content length again and a CRC-32 of the whole file
                                   before it, leaving out the bytes rewritten in place (the
                                   flags field and the status bytes)
```

Field values are percent-escaped for `%`, TAB, CR and LF, and stored as UTF-8 with
surrogateescape (8-bit addresses survive). A file whose trailer is missing or does not match is
torn: in `incoming` it was never acknowledged and is discarded; elsewhere it is moved to
`corrupt`. Completion is separately marked by the owner-execute bit (mode 0700), set only after
the data is on disk (see store.py).

Why the id, a CRC over the envelope, and an id in every sector with marks: the store reuses
the files of delivered messages (store.py, "Spare files") and writes a new message over the old
bytes. A crash may keep the new name and mark but lose any of the new sectors (a disk writes
512 bytes whole, no more). What is left then reads as torn, never as the old message or a mix:
- a sector whose old bytes differ from the new ones outside the marks breaks the CRC;
- the marks (flags, status bytes) are left out of the CRC, since they change in place; but
  each shares its sector with an `I` record, so an old sector of marks brings the old id with
  it (or no `I` at all: either way the file is refused);
- a file that is wholly the old message names another id.
A brand-new file gets the same protection against what a freed file left in its blocks.
Version 1 files (no id, the CRC over the content only) are still read; the store never reuses
one.
"""

from __future__ import annotations

import operator
import zlib
from dataclasses import dataclass, field

from affix.queue.envelope import Envelope, Recipient

MAGIC = b"AFFIXQ 2\n"
MAGIC_V1 = b"AFFIXQ 1\n"  # read, never written
FLAGS_WIDTH = 8
SECTOR = 512  # what a disk writes whole: every mark shares one with an `I` record
FLAGS_OFFSET = len(MAGIC) + 2  # after "F "
FLAG_EXPIRE = 0  # index into the flags field
FLAG_WARNED = 1
FLAG_HOLD = 2
PENDING, DELIVERED, BOUNCED = b"-", b"D", b"B"
_STATUSES = (PENDING, DELIVERED, BOUNCED)

# Envelope attributes stored as `A name=value` (everything but sender, recipients and arrival).
_STR_ATTRS = ("client_name", "client_addr", "helo", "protocol", "sasl_username", "body_type",
              "filter", "ret", "envid")
_str_attrs = operator.attrgetter(*_STR_ATTRS)  # their values, in one call


class QueueFileError(Exception):
    """A queue file that cannot be parsed (torn or damaged)."""


@dataclass
class QueuedMessage:
    queue_id: str
    envelope: Envelope
    content: bytes = b""
    flags: str = "-" * FLAGS_WIDTH
    status_offsets: list[int] = field(default_factory=list)  # file offset of each status byte
    statuses: list[bytes] = field(default_factory=list)
    size: int = 0  # content length

    def pending(self) -> list[int]:
        return [i for i, s in enumerate(self.statuses) if s == PENDING]

    @property
    def force_expired(self) -> bool:
        return self.flags[FLAG_EXPIRE] == "E"

    @property
    def warned(self) -> bool:
        return self.flags[FLAG_WARNED] == "W"

    @property
    def held(self) -> bool:
        return self.flags[FLAG_HOLD] == "H"


def escape(value: str) -> bytes:
    if "%" in value or "\t" in value or "\r" in value or "\n" in value:  # seldom: test first
        value = (value.replace("%", "%25").replace("\t", "%09").replace("\r", "%0D")
                 .replace("\n", "%0A"))
    return value.encode("utf-8", "surrogateescape")


def unescape(raw: bytes) -> str:
    text = raw.decode("utf-8", "surrogateescape")
    if "%" not in text:
        return text
    return (text.replace("%0A", "\n").replace("%0D", "\r").replace("%09", "\t")
            .replace("%25", "%"))


def encode(queue_id: str, envelope: Envelope, content: bytes,
           flags: str = "-" * FLAGS_WIDTH) -> bytes:
    """The whole queue file for an envelope and its content."""
    parts = [MAGIC, b"F " + flags.encode("ascii")[:FLAGS_WIDTH].ljust(FLAGS_WIDTH, b"-") + b"\n",
             f"I {queue_id}\nT {envelope.arrival:.6f}\n".encode(),
             b"S " + escape(envelope.sender) + b"\n"]
    for name, value in zip(_STR_ATTRS, _str_attrs(envelope), strict=True):
        if value:
            parts.append(b"A " + escape(f"{name}={value}") + b"\n")
    if envelope.smtputf8:
        parts.append(b"A smtputf8=1\n")
    status_offsets = []
    length = sum(map(len, parts))
    guard = len(MAGIC) + len(parts[1])  # where the last `I` record starts
    id_line = f"I {queue_id}\n".encode()
    for r in envelope.recipients:
        if (length + 2) // SECTOR != guard // SECTOR:
            # the status byte would sit in a sector without the id: the id again first,
            # in the same sector as the status byte (padded to the next sector if need be)
            room = SECTOR - length % SECTOR
            if room < len(id_line) + 3:
                pad = room if room >= 2 else room + SECTOR
                parts.append(b"P" + b" " * (pad - 2) + b"\n")
                length += pad
            parts.append(id_line)
            guard = length
            length += len(id_line)
        status = DELIVERED if r.done else PENDING
        line = (b"R " + status + b" " + escape(r.address) + b"\t" + escape(r.original)
                + b"\t" + escape(r.notify) + (b"\t" + escape(r.orcpt) if r.orcpt else b"")
                + b"\n")
        status_offsets.append(length + 2)
        length += len(line)
        parts.append(line)
    parts.append(f"C {len(content)}\n".encode())
    header = b"".join(parts)
    crc = zlib.crc32(content, _stable_crc(header, len(header), status_offsets))
    return b"".join((header, content, f"Z {len(content)} {crc:08x}\n".encode()))


def _stable_crc(data: bytes, end: int, status_offsets: list[int]) -> int:
    """CRC-32 of data[:end] without the bytes rewritten in place (flags, status bytes)."""
    view = memoryview(data)
    crc = zlib.crc32(view[:FLAGS_OFFSET])
    pos = FLAGS_OFFSET + FLAGS_WIDTH
    for offset in status_offsets:
        crc = zlib.crc32(view[pos:offset], crc)
        pos = offset + 1
    return zlib.crc32(view[pos:end], crc)


def decode(queue_id: str, data: bytes, header_only: bool = False) -> QueuedMessage:
    """Parse a queue file; with header_only the content is not read or verified."""
    try:
        return _decode(queue_id, data, header_only)
    except ValueError as e:  # a number cut by a torn write: "C 63t..."
        raise QueueFileError(f"{queue_id}: torn queue file ({e})") from e


def _decode(queue_id: str, data: bytes, header_only: bool) -> QueuedMessage:
    version = 2 if data.startswith(MAGIC) else 1 if data.startswith(MAGIC_V1) else 0
    if not version:
        raise QueueFileError(f"{queue_id}: not an affix queue file (or an unknown version)")
    msg = QueuedMessage(queue_id, Envelope(sender=""))
    pos = len(MAGIC)
    guard = -SECTOR  # where the last `I` record starts (version 2)
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            raise QueueFileError(f"{queue_id}: truncated envelope")
        kind, value = data[pos:pos + 1], data[pos + 2:end]
        if kind == b"C":
            if version == 2 and guard < 0:
                raise QueueFileError(f"{queue_id}: torn queue file (no queue id)")
            return _content(msg, data, end + 1, int(value), header_only, version)
        if version == 2 and kind == b"I":
            if value != queue_id.encode("ascii", "replace"):
                # a reused file that still holds (part of) the message it had before
                raise QueueFileError(f"{queue_id}: torn queue file (holds another message)")
            guard = pos
        elif version == 2 and kind == b"P":
            pass  # padding: the next `I` starts a sector
        else:
            if version == 2 and kind == b"R" and (pos + 2) // SECTOR != guard // SECTOR:
                # the marks are outside the CRC: each shares its sector with the id (the
                # flags with the first `I`, below)
                raise QueueFileError(f"{queue_id}: torn queue file (a mark without its id)")
            _record(msg, kind, value, pos)
            if version == 2 and kind == b"F" and (pos != len(MAGIC) or not data.startswith(
                    f"I {queue_id}\n".encode("ascii", "replace"), end + 1)):
                raise QueueFileError(f"{queue_id}: torn queue file (flags without the id)")
        pos = end + 1


def _record(msg: QueuedMessage, kind: bytes, value: bytes, pos: int) -> None:
    env = msg.envelope
    if kind == b"F":
        msg.flags = value.decode("ascii", "replace")
    elif kind == b"T":
        env.arrival = float(value)
    elif kind == b"S":
        env.sender = unescape(value)
    elif kind == b"A":
        name, _, val = unescape(value).partition("=")
        if name == "smtputf8":
            env.smtputf8 = val == "1"
        elif name in _STR_ATTRS:
            setattr(env, name, val)
    elif kind == b"R":
        status = value[:1]
        if status not in _STATUSES or value[1:2] != b" ":
            # the status byte is outside the CRC (it changes in place): a damaged one must
            # not pass for "done", or the recipient would be dropped without a word
            raise QueueFileError(f"{msg.queue_id}: torn queue file (bad recipient status "
                                 f"{status!r})")
        addr, orig, notify, orcpt = (value[2:].split(b"\t") + [b"", b"", b""])[:4]
        env.recipients.append(Recipient(unescape(addr), unescape(orig), status != PENDING,
                                        unescape(notify), unescape(orcpt)))
        msg.statuses.append(status)
        msg.status_offsets.append(pos + 2)
    else:
        raise QueueFileError(f"{msg.queue_id}: unknown record type {kind!r}")


def _content(msg: QueuedMessage, data: bytes, start: int, length: int,
             header_only: bool, version: int) -> QueuedMessage:
    msg.size = length
    if header_only:
        return msg
    end = start + length
    content = data[start:end]
    if len(content) != length:
        raise QueueFileError(f"{msg.queue_id}: torn queue file (short content)")
    crc = (_stable_crc(data, end, msg.status_offsets) if version == 2
           else zlib.crc32(content))
    if data[end:] != f"Z {length} {crc:08x}\n".encode():
        raise QueueFileError(f"{msg.queue_id}: torn queue file (bad trailer)")
    msg.content = content
    return msg
