"""`$name` expansion (config.md §2): every form, laziness, loops; Hypothesis against postconf."""

from __future__ import annotations

import contextlib
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affix.cli.conf import display
from affix.config.errors import ConfigError
from affix.config.maincf import ExpansionLoop, expand

PARAMS = {"a": "A", "e": "", "r": "$a x", "n": "10", "lvl": "3.7", "mail_name": "Postfix"}


def x(text: str, params: dict[str, str] | None = None) -> str:
    table = PARAMS if params is None else params
    return expand(text, table.get)


@pytest.mark.parametrize("text, expected", [
    ("$a ${a} $(a)", "A A A"),
    ("$r", "A x"),  # recursive
    ("[$undefined] [${undefined}]", "[] []"),
    ("$$a", "$a"),
    ("$a.x $a-x", "A.x A-x"),
    ("[${a?set}] [${e?set}] [${u?set}]", "[set] [] []"),
    ("[${a:unset}] [${e:unset}] [${u:unset}]", "[] [unset] [unset]"),
    ("${a?{yes}:{no}} ${e?{yes}:{no}}", "yes no"),
    ("${a?{yes}} ${a:{no}}z", "yes z"),
    ("${e?{yes}:no more}", "no more"),
    ("${a? spaced }", " spaced "),
    ("${ a } ${a ?b}", "A b"),
    ("$(a?{x}:{y})", "x"),
    ("${a?(x)}", "(x)"),
    ("${a?${a?{in}}} ${u:$a x}", "in A x"),
    ("${{$a} == {A} ? {eq} : {ne}}", "eq"),
    ("${{a} != {a} ? {T} : F x}", "F x"),
    ("${{1} == {1} ? P : N}", "P : N"),
    ("${{10} == {010} ? {num} : {lex}}", "num"),
    ("${{9} < {10} ? {T} : {F}} ${{abc} < {10} ? {T} : {F}}", "T F"),
    ("${{a} == {b}}", ""),
    ("${{ 1 } == {1} ? {P} : {N}}", "N"),
    ("${{a{b}} == {a{b}} ? {T} : {F}}", "T"),
    ("${{3.10} <level {3.9} ? {lt} : {ge}}", "ge"),
    ("${{3.10} <=level {3.9.5} ? {T} : {F}}", "F"),
    ("${{$lvl} <level {2} ? {subnet} : {host}}", "host"),
    ("${{0} <level {2} ? {subnet} : {host}}", "subnet"),
    ("${{$n} >= {9} ? {big} : {small}}", "big"),
])
def test_expansion_form(text, expected):
    assert x(text) == expected


def test_conditional_tests_the_raw_value_not_the_expanded_one():
    # `a = $e` with e empty counts as set, as postconf -x shows
    assert x("[${p?x}] [${p:y}]", {"e": "", "p": "$e"}) == "[x] []"


def test_only_the_chosen_branch_is_expanded():
    params = {"a": "A", "loop": "$loop", "e": ""}
    assert x("${e?$loop}ok ${a:$loop}ok ${{1} == {2} ? {$loop} : {fine}}", params) == \
        "ok ok fine"


@pytest.mark.parametrize("params", [{"a": "$b", "b": "$a"}, {"a": "${a}x"},
                                    {"a": "${b?$c}", "b": "1", "c": "$a"}])
def test_reference_loop_is_an_error_naming_the_chain(params):
    with pytest.raises(ExpansionLoop, match="unreasonable macro call nesting: a -> "):
        expand("$a", params.get, _stack=("a",))


def test_diamond_references_are_not_a_loop():
    params = {"a": "$b $b", "b": "$c $c", "c": "$d $d", "d": "1"}
    assert x("$a", params) == "1 1 1 1 1 1 1 1"


@pytest.mark.parametrize("text, message", [
    ("$ foo", "empty macro name"),
    ("a$", "empty macro name"),
    ("${foo", "truncated macro reference"),
    ("$(a", "truncated macro reference"),
    ("${a-b}", "attribute name syntax error"),
    ("${a?{x}b}", '":" expected'),
    ("a${a?{a}:{b}c}", "unexpected input"),
    ("${a:{a}:{b}}", "unexpected input"),
    ("${{a}x == {a} ? {T} : {F}}", '"==" or "!="'),
    ("${{a} = {a} ? {T} : {F}}", '"==" or "!="'),
    ("${{a} == b ? {T} : {F}}", '"{expression}" expected'),
    ("${{} <level {2} ? {T} : {F}}", "malformed compatibility level"),
    ("${{3x} <level {3} ? {T} : {F}}", "malformed compatibility level"),
])
def test_bad_syntax_is_a_config_error(text, message):
    with pytest.raises(ConfigError, match=message):
        x(text)


@given(st.text(max_size=60))
def test_doubled_dollars_expand_to_the_text_itself(text):
    assert x(text.replace("$", "$$")) == text


@given(st.text(alphabet="${}()?:=<>!a eu{}", max_size=40))
def test_any_text_expands_or_raises_config_error(text):
    with contextlib.suppress(ConfigError):
        x(text)


# --- differential: random expressions against the installed postconf -----------------------

_lit = st.text(alphabet="abc xyz.,-", min_size=0, max_size=4)
_pname = st.sampled_from(["a", "e", "r", "undefined_u"])
_op = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
_operand = st.sampled_from(["1", "10", "010", "a", "b", "$a", "${e}", ""])


def _exprs(inner):
    # %-formatting keeps the braces of the syntax readable
    return st.one_of(
        _pname.map(lambda n: "${%s}" % n),  # noqa: UP031
        _pname.map(lambda n: "$(%s)" % n),  # noqa: UP031
        st.tuples(_pname, st.sampled_from("?:"), inner).map(
            lambda t: "${%s%s{%s}}" % t),  # noqa: UP031
        st.tuples(_pname, inner, inner).map(lambda t: "${%s?{%s}:{%s}}" % t),  # noqa: UP031
        st.tuples(_operand, _op, _operand, inner, inner).map(
            lambda t: "${{%s} %s {%s} ? {%s} : {%s}}" % t),  # noqa: UP031
        st.just("$$"),
        _lit,
    )


_expression = st.recursive(_lit, lambda inner: st.lists(_exprs(inner), max_size=3).map("".join),
                           max_leaves=8)


@pytest.mark.skipif(shutil.which("postconf") is None, reason="postconf (Postfix) not installed")
@settings(max_examples=3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(expressions=st.lists(_expression, min_size=1, max_size=40))
def test_expansion_matches_postconf(tmp_path, expressions):
    # One postconf run checks a whole batch: user-defined names listed in
    # smtpd_restriction_classes count as used, so `postconf -xh NAME ...` prints them.
    names = [f"x{i}" for i in range(len(expressions))]
    lines = ["a = A", "e =", "r = $a x", "smtpd_restriction_classes = " + " ".join(names)]
    lines += [f"{n} = {e}" for n, e in zip(names, expressions, strict=True)]
    (tmp_path / "main.cf").write_text("\n".join(lines) + "\n")
    (tmp_path / "master.cf").write_text("")
    done = subprocess.run(["postconf", "-c", str(tmp_path), "-xh", *names],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    params = {"a": "A", "e": "", "r": "$a x", "mail_name": "Postfix"}
    # postconf shows values with white space runs collapsed and the ends trimmed
    mine = [display(expand(e.strip(), params.get)) for e in expressions]
    assert mine == done.stdout.split("\n")[:len(names)]
