"""Property tests for the DATA reader and the MAIL/RCPT argument parser."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from affix.smtpd.args import parse_path
from affix.smtpd.content import DataReader

lines = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
                 max_size=30)
splits = st.lists(st.integers(min_value=1, max_value=70), min_size=1, max_size=20)


def _feed(reader: DataReader, wire: bytes, cuts: list[int]) -> tuple[bool, bytearray]:
    buf, pos, i = bytearray(), 0, 0
    while pos < len(wire):
        n = cuts[i % len(cuts)]
        i += 1
        buf += wire[pos:pos + n]
        pos += n
        if reader.feed(buf):
            buf += wire[pos:]
            return True, buf
    return False, buf


@given(lines, splits, st.booleans())
@settings(max_examples=300)
def test_stuffed_message_round_trips_in_any_chunking(msg_lines, cuts, strict):
    stuffed = [b"." + line if line.startswith(b".") else line for line in msg_lines]
    wire = b"".join(line + b"\r\n" for line in stuffed) + b".\r\nQUIT\r\n"
    reader = DataReader(strict, 0)
    done, rest = _feed(reader, wire, cuts)
    assert done and bytes(rest) == b"QUIT\r\n"
    expected = b"".join(line + b"\n" for line in msg_lines)
    assert reader.content() == expected
    assert reader.size == sum(len(line) + 2 for line in msg_lines)
    assert not reader.bare_lf


@given(st.binary(max_size=300), splits)
@settings(max_examples=300)
def test_strict_mode_ends_only_at_crlf_dot_crlf(noise, cuts):
    """Whatever bare LF / CR tricks the content holds, the message does not end early."""
    while b"\r\n.\r\n" in noise:
        noise = noise.replace(b"\r\n.\r\n", b"\r\n..\r\n")
    if noise.startswith(b".\r\n"):
        noise = b"." + noise
    done, _ = _feed(DataReader(True, 0), noise, cuts)
    assert not done


@given(st.text(max_size=60))
def test_parse_path_never_crashes(arg):
    with contextlib.suppress(ValueError):
        parse_path(arg, "FROM", False)


def test_parse_path_forms():
    assert parse_path("FROM:<a@b.example> SIZE=10", "FROM", False).params == ("SIZE=10",)
    assert parse_path("from: a@b.example", "FROM", False).address == "a@b.example"
    assert parse_path("FROM:<@relay.example:a@b.example>", "FROM", False).address == (
        "a@b.example")
    assert parse_path('TO:<"x y"@b.example>', "TO", True).address == '"x y"@b.example'
    assert parse_path("TO:<>", "TO", False).address == ""
    assert parse_path("TO <a@b>", "TO", False) is None
