"""Lint places each list element on the main.cf line where it is written (Hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from affix.doctor.context import LintContext

TOKEN = st.from_regex(r"[a-z][a-z0-9_.]{0,12}", fullmatch=True)
LINE = st.lists(TOKEN, min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(st.lists(LINE, min_size=1, max_size=5), st.booleans(), st.booleans())
def test_each_element_placed_on_its_line(lines, commas, comments):
    sep = ", " if commas else " "
    body = ["smtpd_helo_restrictions ="]
    for words in lines:
        if comments:
            body.append("  # a comment line inside the value")
        body.append("    " + sep.join(words) + ("," if commas else ""))
    with tempfile.TemporaryDirectory() as d:
        Path(d, "main.cf").write_text("\n".join(body) + "\n")
        ctx = LintContext(d)
        items = ctx.items("smtpd_helo_restrictions")
    assert [i.text for i in items] == [w for words in lines for w in words]
    for item in items:
        assert item.text in body[item.where.line - 1]
