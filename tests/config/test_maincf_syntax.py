"""main.cf lexical rules (config.md §1), each checked against what postconf 3.7 does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from affix.config.errors import ConfigError
from affix.config.maincf import logical_lines, parse_maincf


def values(text: str) -> dict[str, str]:
    entries, _ = parse_maincf(text, "/etc/affix/main.cf")
    return {name: e.value for name, e in entries.items()}


def test_continuation_keeps_leading_whitespace_and_drops_newline():
    assert values("a = x\n  , //text\nb=1\n") == {"a": "x  , //text", "b": "1"}


def test_indented_comment_inside_a_value_is_skipped_and_does_not_end_it():
    text = "a = one,\n   # not part of it\n   two\nb = 2\n"
    assert values(text) == {"a": "one,   two", "b": "2"}


def test_blank_lines_inside_a_value_do_not_end_it():
    assert values("a = 1\n\n   continued\n  \t\n  more\n") == {"a": "1   continued  more"}


def test_hash_in_the_middle_of_a_value_is_not_a_comment():
    assert values("myorigin = $mydomain # x\n") == {"myorigin": "$mydomain # x"}


def test_double_slash_at_column_one_without_equals_is_fatal_with_file_and_line():
    with pytest.raises(ConfigError) as e:
        parse_maincf("a = 1\n//text\n", "/etc/affix/main.cf")
    assert str(e.value) == ("/etc/affix/main.cf:2: missing '=' after attribute name: "
                            '"//text"')


def test_memo_comment_after_continuation_becomes_part_of_the_value():
    text = ("smtpd_client_restrictions =\n   permit_mynetworks,\n"
            "   reject_unknown_client, //no reverse DNS\n   permit\n")
    assert values(text)["smtpd_client_restrictions"] == (
        "permit_mynetworks,   reject_unknown_client, //no reverse DNS   permit")


def test_missing_equals_names_file_and_line():
    with pytest.raises(ConfigError) as e:
        parse_maincf("a = 1\n\n# c\na b = 1\n", "m.cf")
    assert str(e.value) == "m.cf:4: missing '=' after attribute name: \"a b = 1\""


def test_missing_name_is_an_error():
    with pytest.raises(ConfigError, match=r"m.cf:1: missing attribute name"):
        parse_maincf("=1\n", "m.cf")


def test_first_line_indented_is_skipped_with_a_warning():
    entries, warnings = parse_maincf("  a = 1\n  more\nb = 2\n", "m.cf")
    assert {n: e.value for n, e in entries.items()} == {"b": "2"}
    assert [str(w) for w in warnings] == [
        'm.cf:1: warning: logical line must not start with whitespace: "a = 1  more"']


def test_last_definition_wins_with_a_warning_only_when_the_value_differs():
    entries, warnings = parse_maincf("a=1\na=2\na=2\n", "m.cf")
    assert entries["a"].value == "2" and entries["a"].line == 3
    assert [str(w) for w in warnings] == ["m.cf:2: warning: overriding earlier entry: a=1"]


def test_spaces_and_tabs_around_equals_and_value_are_trimmed():
    assert values("a\t=\t1  x \t\n") == {"a": "1  x"}


def test_name_may_hold_any_non_space_character():
    assert values("a.b = 1\n//foo = bar\n") == {"a.b": "1", "//foo": "bar"}


def test_crlf_line_ends_are_accepted():
    assert values("a = 1\r\n  2\r\n") == {"a": "1  2"}


def test_entry_records_first_and_last_physical_line():
    entries, _ = parse_maincf("# c\na = 1\n  2\n\n  # x\n  3\nb=1\n")
    assert (entries["a"].line, entries["a"].end_line) == (2, 6)


# --- Hypothesis: any layout of comments, blanks and continuations parses back -----------------

_word = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="#"),
                min_size=1, max_size=8)
_name = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
_ws = st.sampled_from([" ", "  ", "\t", " \t "])
_filler = st.lists(st.sampled_from(["", "   ", "# comment", "  # indented comment", "#"]),
                   max_size=2)


@st.composite
def maincf(draw):
    entries = draw(st.dictionaries(_name, st.lists(st.lists(_word, min_size=1, max_size=3),
                                                   max_size=3), max_size=6))
    lines: list[str] = draw(_filler)
    expected: dict[str, str] = {}
    for name, chunks in entries.items():
        first = (" ".join(chunks[0]) if chunks else "") + draw(st.sampled_from(["", " "]))
        lines.append(f"{name}{draw(_ws)}={draw(_ws)}{first}")
        value = first
        for chunk in chunks[1:]:
            lines += draw(_filler)
            cont = draw(_ws) + " ".join(chunk)
            lines.append(cont)
            value += cont
        lines += draw(_filler)
        expected[name] = value.strip()
    return "\n".join(lines) + "\n", expected


@given(maincf())
def test_any_layout_parses_to_the_values_written(case):
    text, expected = case
    assert values(text) == expected


@given(st.text(max_size=200))
def test_parser_never_fails_except_with_a_config_error(text):
    try:
        parse_maincf(text, "m.cf")
    except ConfigError as e:
        assert str(e).startswith("m.cf:")


@given(st.text(max_size=200))
def test_logical_lines_never_start_with_a_comment(text):
    for ll in logical_lines(text):
        assert not ll.text.lstrip().startswith("#")
