"""regexp: and pcre: tables (tables.md §5)."""

from __future__ import annotations

import pytest

from affix.tables import TableCache, TableError, open_table


def table(tmp_path, body: str, kind: str = "regexp"):
    path = tmp_path / "rules"
    path.write_text(body)
    return open_table(f"{kind}:{path}")


def test_first_match_wins_and_key_is_not_folded(tmp_path):
    t = table(tmp_path, "/^Received:/ IGNORE\n/^R/ OTHER\n")
    assert not t.fixed
    assert t.lookup("Received: from x") == "IGNORE"
    assert t.lookup("received: from x") == "IGNORE"  # the i flag is on by default
    assert t.lookup("Subject: x") is None


def test_i_flag_toggles_case_sensitivity(tmp_path):
    t = table(tmp_path, "/^abc$/i SENSITIVE\n")
    assert t.lookup("abc") == "SENSITIVE"
    assert t.lookup("ABC") is None


def test_substitution_forms_and_dollar_dollar(tmp_path):
    t = table(tmp_path, "/^(.*)@(.*)$/ user=$1 dom=${2} again=$(1) cost=$$5\n")
    assert t.lookup("Me@Dom") == "user=Me dom=Dom again=Me cost=$5"


def test_unmatched_group_substitutes_empty(tmp_path):
    t = table(tmp_path, "/(f)|(g)/ [$2]\n")
    assert t.lookup("f") == "[]"


def test_negation_matches_when_pattern_does_not(tmp_path):
    t = table(tmp_path, "!/@example\\.com$/ FOREIGN\n")
    assert t.lookup("a@example.com") is None
    assert t.lookup("a@other.org") == "FOREIGN"


def test_if_endif_blocks_nest(tmp_path):
    t = table(tmp_path, "if /^a/\nif !/x/\n/b/ AB\nendif\nendif\n/b/ B\n")
    assert t.lookup("ab") == "AB"
    assert t.lookup("abx") == "B"
    assert t.lookup("b") == "B"


def test_bad_rules_are_skipped_with_positions(tmp_path):
    t = table(tmp_path, "!/foo/ N $1\n/a/q X\n/un(closed/ x\nendif\n/ok/ OK\n/no-end X\n"
                        "/(a)/ $2\nif /zz/\n")
    path = tmp_path / "rules"
    assert t.warnings[0] == (f"regexp map {path}, line 1: $number found in negative match "
                             "replacement text: skipping this rule")
    assert t.warnings[1] == f'regexp map {path}, line 2: unknown regexp option "q": ' \
                            "skipping this rule"
    assert t.warnings[2].startswith(f"regexp map {path}, line 3: ")
    assert t.warnings[3] == f"regexp map {path}, line 4: ignoring ENDIF without matching IF"
    assert "line 6: no closing regexp delimiter" in t.warnings[4]
    assert 'line 7: out of range replacement index "2"' in t.warnings[5]
    assert t.warnings[6] == f"regexp map {path}, line 8: IF has no matching ENDIF"
    assert t.lookup("ok") == "OK"


def test_rule_without_result_gives_empty_result_error(tmp_path):
    t = table(tmp_path, "/x/\n")
    with pytest.raises(TableError, match="empty string result"):
        t.lookup("x")


def test_any_delimiter_and_escaped_delimiter(tmp_path):
    t = table(tmp_path, ",a\\,b, COMMA\n|x y| SPACE\n")
    assert t.lookup("a,b") == "COMMA"
    assert t.lookup("x y") == "SPACE"


def test_posix_bracket_classes_and_literal_backslash(tmp_path):
    t = table(tmp_path, "/^[[:digit:]]+$/ DIGITS\n/^[]x]$/ BRACKET\n/^[\\]$/ BACKSLASH\n")
    assert t.lookup("123") == "DIGITS"
    assert t.lookup("]") == "BRACKET"
    assert t.lookup("\\") == "BACKSLASH"


def test_posix_dot_matches_newline_unless_m_flag(tmp_path):
    t = table(tmp_path, "/^a.b$/ DOT\n/^c$/m LINE\n")
    assert t.lookup("a\nb") == "DOT"
    assert t.lookup("x\nc\ny") == "LINE"


def test_x_flag_off_means_basic_regular_expression(tmp_path):
    t = table(tmp_path, "/^\\(ab\\)*$/x BRE $1\n/^a+$/x PLUS\n")
    assert t.lookup("abab") == "BRE ab"
    assert t.lookup("a+") == "PLUS"
    assert t.lookup("aa") is None


def test_word_boundaries_gnu_style(tmp_path):
    t = table(tmp_path, "/\\<viagra\\>/ SPAM\n")
    assert t.lookup("buy viagra now") == "SPAM"
    assert t.lookup("xviagrax") is None


def test_inline_regexp_form():
    t = open_table("regexp:{ {/a/ X}, {/b/ Y} }")
    assert t.lookup("ab") == "X"
    assert t.lookup("b") == "Y"


def test_pcre_defaults_and_flags(tmp_path):
    t = table(tmp_path, "/^a.b$/ DOTALL\n/^(?<user>\\w+)@x\\z/ NAMED $1\n/^Q/A ANCH\n"
                        "/a+?/U GREEDY $0\n", kind="pcre")
    assert t.lookup("A\nB") == "DOTALL"
    assert t.lookup("joe@x") == "NAMED joe"
    assert t.lookup("q") == "ANCH"
    assert t.lookup("xQ") is None


def test_pcre_ungreedy_flag_swaps_greediness(tmp_path):
    t = table(tmp_path, "/^(a+)/U $1\n", kind="pcre")
    assert t.lookup("aaa") == "a"


def test_regexp_file_change_is_picked_up_by_cache(tmp_path):
    path = tmp_path / "rules"
    path.write_text("/a/ OLD\n")
    cache = TableCache(None)
    assert cache.get(f"regexp:{path}").lookup("a") == "OLD"
    path.write_text("/a/ NEW RESULT\n")
    cache.recheck()
    assert cache.get(f"regexp:{path}").lookup("a") == "NEW RESULT"


@pytest.mark.parametrize("kind", ["regexp", "pcre"])
def test_a_rule_that_backtracks_without_end_times_out_instead_of_hanging(tmp_path, kind):
    """One search must not stop the server: every search has a time limit, and running out
    of it is a temporary lookup error naming the rule. Quadratic and exponential patterns
    alike."""
    import time

    t = table(tmp_path, "/^Subject: plain/ DUNNO\n/^Subject: (a|aa)+$/ REJECT evil\n"
                        "/\\s+\\s+x/ REJECT spaces\n", kind)
    assert t.lookup("Subject: aaaa") == "REJECT evil"
    started = time.monotonic()
    with pytest.raises(TableError, match=rf"{kind} map .*, line 2: matching took longer") as e:
        t.lookup("Subject: " + "a" * 60 + "b")
    assert e.value.temporary
    assert t.lookup(" " * 20000) is None  # cubic for re; regex's engine needs no limit here
    assert time.monotonic() - started < 5


def test_the_searches_of_one_message_share_a_budget(tmp_path):
    """Many lines, each just under the limit of one search, must not add up to a frozen
    server: inside budget() they share one allowance."""
    import time

    from affix.tables import bounded

    t = table(tmp_path, "/^X-A: (a|aa)+$/ REJECT evil\n", "pcre")
    line = "X-A: " + "a" * 21 + "b"  # well under the limit of one search
    started = time.monotonic()
    with pytest.raises(TableError, match="matching took longer"), bounded.budget(0.3):
        for _ in range(10000):
            t.lookup(line)
    assert time.monotonic() - started < 3
