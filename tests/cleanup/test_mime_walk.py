"""The MIME walker never loses or changes a byte, whatever the structure claims."""

from hypothesis import given, settings
from hypothesis import strategies as st

from affix.cleanup.mime import BODY, has_structure, walk

_LINE = st.sampled_from([
    "", "text", "--b", "--b--", "--c", "--c--", "Content-Type: multipart/mixed; boundary=c",
    "Content-Type: message/rfc822", "Content-Type: multipart/digest; boundary=\"b\"",
    "X-H: v", " folded", "\tfolded", "Received: from x", "\r", "x" * 30,
])
_PRIMARY = st.sampled_from([
    [], [b"Content-Type: multipart/mixed; boundary=b\n"],
    [b"Content-Type: message/rfc822\n"], [b"Content-Type: multipart/digest; boundary=\"b\"\n"],
    [b"Content-Type: text/plain\n"], [b"Content-Type: multipart/mixed\n"],
])


@settings(max_examples=300)
@given(_PRIMARY, st.lists(_LINE, max_size=40), st.booleans(), st.integers(1, 40),
       st.sampled_from([0, 1, 20]))
def test_pieces_concatenate_to_the_body(primary, lines, final_newline, chunk, skip):
    body = "\n".join(lines).encode() + (b"\n" if final_newline else b"")
    pieces = list(walk(primary, body, chunk, 100, skip_after=skip))
    assert b"".join(p.data for p in pieces) == body
    for p in pieces:
        if p.kind == BODY and (not skip or p.offset < skip):
            assert len(p.data) <= chunk  # inspected text comes in line_length_limit chunks


@settings(max_examples=300)
@given(_PRIMARY, st.lists(_LINE, max_size=40), st.sampled_from([0, 1, 100]), st.booleans())
def test_without_structure_every_piece_is_body_text(primary, lines, nesting, mime):
    """What lets cleanup skip the walk when only header checks are configured."""
    body = "\n".join(lines).encode()
    if not has_structure(primary, nesting, mime):
        assert all(p.kind == BODY for p in walk(primary, body, 10, nesting, mime, 1))
