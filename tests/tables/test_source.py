"""The postmap source format (tables.md §2): comments, continuations, quotes, warnings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from affix.tables.compile import Options, collect
from affix.tables.source import Problem, source_records


def parse(text: str) -> tuple[list[tuple[str, str, int]], list[str]]:
    problems: list[Problem] = []
    records = source_records(text, "src", problems)
    return records, [str(p) for p in problems]


def test_comments_and_blank_lines_are_skipped():
    records, problems = parse("# comment\n\n   # indented comment\na 1\n")
    assert records == [("a", "1", 4)]
    assert problems == []


def test_continuation_line_keeps_its_leading_whitespace():
    records, _ = parse('"with space" OK\n  continued\n')
    assert records == [('"with space"', "OK  continued", 1)]


def test_comment_and_blank_line_do_not_end_a_logical_line():
    records, _ = parse("a\n\n# c\n  b c\n")
    assert records == [("a", "b c", 1)]


def test_value_trimmed_but_inner_whitespace_kept():
    records, _ = parse("v   REJECT  go away   \n")
    assert records == [("v", "REJECT  go away", 1)]


def test_quoted_key_is_stored_with_quotes_and_may_contain_spaces():
    records, _ = parse('"a b"@example.com OK\n"a\\"b" z\n')
    assert records == [('"a b"@example.com', "OK", 1), ('"a\\"b"', "z", 2)]


def test_missing_value_warns_with_position_and_skips():
    records, problems = parse("a 1\nnovalue\n")
    assert records == [("a", "1", 1)]
    assert problems == ["src, line 2: expected format: key whitespace value"]


def test_alias_style_key_warns_but_is_stored():
    records, problems = parse("Key: v\n")
    assert records == [("Key:", "v", 1)]
    assert problems == ['src, line 1: record is in "key: value" format; is this an alias file?']


def test_unbalanced_quote_warns_and_skips_whole_logical_line():
    records, problems = parse('x 1\n"unbal\n  x\n')
    assert records == [("x", "1", 1)]
    assert problems == ["src, line 2: unbalanced '\"' in '\"unbal  x' -- ignoring this line"]


def test_first_line_starting_with_whitespace_is_reported():
    records, problems = parse("  lead x\nb 2\n")
    assert records == [("b", "2", 2)]
    assert problems == ['src: logical line must not start with whitespace: "  lead x"']


def test_crlf_lines_are_accepted():
    records, problems = parse("a 1\r\n\r\nb  2 3\r\n")
    assert records == [("a", "1", 1), ("b", "2 3", 3)]
    assert problems == []


def test_duplicate_keeps_first_and_warns_after_folding():
    problems: list[Problem] = []
    table = collect([("Dup", "1", 1), ("dup", "2", 2)], "src", Options(), problems)
    assert table == {"dup": "1"}
    assert [str(p) for p in problems] == ['src, line 2: duplicate entry: "dup"']


def test_duplicate_replace_and_ignore_are_silent():
    recs = [("a", "1", 1), ("a", "2", 2)]
    problems: list[Problem] = []
    assert collect(recs, "s", Options(duplicates="replace"), problems) == {"a": "2"}
    assert collect(recs, "s", Options(duplicates="ignore"), problems) == {"a": "1"}
    assert problems == []


def test_no_fold_keeps_case():
    assert collect([("A", "1", 1), ("a", "2", 2)], "s", Options(fold=False), []) == {
        "A": "1", "a": "2"}


_key = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF,
                             blacklist_characters='"#\\'), min_size=1, max_size=20)
_value = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=1,
                 max_size=30).map(str.strip).filter(bool)


@given(st.lists(st.tuples(_key, _value), max_size=20))
def test_written_records_parse_back(pairs):
    text = "".join(f"{k} {v}\n" for k, v in pairs)
    records, problems = parse(text)
    expected = [(k, v) for k, v in pairs if not k.endswith(":")] + \
        [(k, v) for k, v in pairs if k.endswith(":")]
    assert sorted((k, v) for k, v, _ in records) == sorted(expected)
    assert all("alias file" in p for p in problems)


@given(st.text(max_size=200))
def test_any_text_parses_without_exceptions(text):
    records, problems = parse(text)
    for key, value, line in records:
        assert key and value and line >= 1
        assert '"' in key or not any(c in " \t\r\n\f\v" for c in key)
