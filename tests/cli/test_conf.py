"""`affix conf` (config.md §7): listing, selection, -h/-H/-x/-d/-f, and in-place edits."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from affix.config.edit import edit_text
from affix.config.maincf import parse_maincf

MAIN_CF = """\
# head
smtpd_banner = $myhostname   ESMTP
  # inner comment
  $mail_name
# between
myorigin = $mydomain
smtpd_banner = $myhostname ESMTP $mail_name

smtpd_client_restrictions = permit_mynetworks,
    reject
"""


@pytest.fixture
def confdir(tmp_path):
    (tmp_path / "main.cf").write_text(MAIN_CF)
    (tmp_path / "master.cf").write_text(
        "smtp inet n - n - - smtpd\nsubmission inet n - n - - smtpd\n"
        "  -o syslog_name=postfix/submission\n  -o { smtpd_client_restrictions = a, b }\n")
    return tmp_path


@pytest.fixture
def conf(confdir, affix):
    def run(*args):
        done = affix("-c", str(confdir), "conf", *args)
        assert "Traceback" not in done.stderr
        return done
    return run


def test_n_lists_only_set_parameters_sorted_with_whitespace_collapsed(confdir, conf):
    assert conf("-n").stdout == (
        f"config_directory = {confdir}\n"
        "myorigin = $mydomain\n"
        "smtpd_banner = $myhostname ESMTP $mail_name\n"
        "smtpd_client_restrictions = permit_mynetworks, reject\n")


def test_all_parameters_sorted_with_main_cf_values(confdir, conf):
    lines = conf().stdout.splitlines()
    names = [line.split(" =")[0] for line in lines]
    assert names == sorted(names) and "mail_name = affix" in lines
    assert "myorigin = $mydomain" in lines


def test_selected_names_and_unknown_name_warns_with_exit_zero(confdir, conf):
    done = conf("myorigin", "no_such_thing", "mail_name")
    assert done.returncode == 0
    assert done.stdout == "myorigin = $mydomain\nmail_name = affix\n"
    assert "warning: no_such_thing: unknown parameter" in done.stderr


def test_v_is_accepted_and_changes_nothing_printed(confdir, conf):
    """The memo's `postconf -v | grep helo_name`: -v only adds postconf's own logging."""
    done = conf("-v")
    assert done.returncode == 0 and done.stdout == conf().stdout
    assert "smtpd_helo_required = no" in done.stdout.splitlines()


def test_h_x_and_H(confdir, conf):
    (confdir / "main.cf").write_text("myhostname = mx.kororo.jp\nmyorigin = $mydomain\n")
    assert conf("-hx", "myorigin").stdout == "kororo.jp\n"
    assert conf("-h", "myorigin").stdout == "$mydomain\n"
    assert conf("-H", "myorigin").stdout == "myorigin\n"


def test_d_prints_defaults_ignoring_main_cf(confdir, conf):
    done = conf("-d", "compatibility_level", "myorigin", "mynetworks_style")
    assert done.stdout == ("compatibility_level = 0\nmyorigin = $myhostname\n"
                           "mynetworks_style = ${{$compatibility_level} <level {2} ? "
                           "{subnet} : {host}}\n")


def test_f_folds_long_values_like_postconf(conf):
    assert conf("-df", "default_rbl_reply").stdout == (
        "default_rbl_reply = $rbl_code Service unavailable; $rbl_class [$rbl_what]\n"
        "    blocked using $rbl_domain${rbl_reason?; $rbl_reason}\n")


def test_M_lists_the_smtpd_services(confdir, conf):
    assert conf("-M").stdout == (
        "smtp inet n - n - - smtpd\n"
        "submission inet n - n - - smtpd -o syslog_name=postfix/submission "
        "-o { smtpd_client_restrictions = a, b }\n")
    (confdir / "master.cf").write_text("127.0.0.1:2525 inet n - y - 5 smtpd -v\n")
    assert conf("-M").stdout == "127.0.0.1:2525 inet n - y - 5 smtpd -v\n"  # as written


def test_n_with_names_prints_only_those_main_cf_sets(confdir, conf):
    done = conf("-n", "myorigin", "mydestination")
    assert done.returncode == 0 and done.stdout == "myorigin = $mydomain\n"


def test_e_replaces_every_entry_in_place_and_appends_new_ones(confdir, conf):
    assert conf("-e", "smtpd_banner = hello there", "new_one=1").returncode == 0
    assert (confdir / "main.cf").read_text() == (
        "# head\nsmtpd_banner = hello there\n  # inner comment\n# between\n"
        "myorigin = $mydomain\nsmtpd_banner = hello there\n\n"
        "smtpd_client_restrictions = permit_mynetworks,\n    reject\nnew_one = 1\n")


def test_equals_implies_e(confdir, conf):
    conf("myorigin=example.jp")
    assert "myorigin = example.jp\n" in (confdir / "main.cf").read_text()


def test_X_removes_and_hash_comments_out_keeping_other_lines(confdir, conf):
    conf("-X", "smtpd_banner")
    conf("-#", "smtpd_client_restrictions")
    assert (confdir / "main.cf").read_text() == (
        "# head\n  # inner comment\n# between\nmyorigin = $mydomain\n\n"
        "#smtpd_client_restrictions = permit_mynetworks,\n#    reject\n")


def test_e_with_a_bad_argument_is_an_error_and_leaves_the_file(confdir, conf):
    done = conf("-e", "novalue")
    assert done.returncode == 1
    assert "missing '=' after attribute name: \"novalue\"" in done.stderr
    done = conf("-e", "myorigin=a\nzzz")  # would write a line that breaks every command
    assert done.returncode == 1 and "accepts no multi-line input" in done.stderr
    assert (confdir / "main.cf").read_text() == MAIN_CF


@pytest.mark.skipif(os.path.exists("/etc/affix/main.cf"), reason="/etc/affix is configured")
def test_edit_on_the_built_in_configuration_is_refused(affix):
    done = affix("conf", "-e", "a=1")
    assert done.returncode == 1 and "give -c DIR" in done.stderr


def test_doc_output_is_the_committed_parameters_md():
    from pathlib import Path

    from affix.config.doc import parameters_markdown

    committed = Path(__file__).resolve().parents[2] / "docs" / "parameters.md"
    assert committed.read_text() == parameters_markdown(), \
        "docs/parameters.md is stale: run `affix conf --doc > docs/parameters.md`"


@pytest.mark.skipif(shutil.which("postconf") is None, reason="postconf (Postfix) not installed")
def test_edits_produce_the_same_file_as_postconf(tmp_path, affix):
    for tool in ("postfix", "affix"):
        d = tmp_path / tool
        d.mkdir()
        (d / "main.cf").write_text(MAIN_CF)
        (d / "master.cf").write_text("")
    steps = [["-e", "smtpd_banner = x y", "new = 1"], ["-#", "myorigin"],
             ["-X", "smtpd_client_restrictions"]]
    for step in steps:
        subprocess.run(["postconf", "-c", str(tmp_path / "postfix"), *step],
                       capture_output=True, check=True)
        assert affix("-c", str(tmp_path / "affix"), "conf", *step).returncode == 0
    assert (tmp_path / "affix" / "main.cf").read_text() == \
        (tmp_path / "postfix" / "main.cf").read_text()


# --- Hypothesis: edits change exactly the named entries, comments stay ------------------------

_name = st.sampled_from(["a", "b", "c", "d"])
_value = st.from_regex(r"[a-z0-9$]{1,6}( [a-z0-9,]{1,6}){0,2}", fullmatch=True)
_line = st.one_of(
    st.tuples(_name, _value).map(lambda t: f"{t[0]} = {t[1]}"),
    _value.map(lambda v: f"  {v}"),
    st.sampled_from(["# comment", "  # indented", "", "#a = old"]),
)


def _values(text):
    return {n: e.value for n, e in parse_maincf(text)[0].items()}


def _comments(text):
    return [line for line in text.splitlines() if line.strip().startswith("#")]


@given(st.lists(_line, max_size=12).map(lambda ls: "".join(x + "\n" for x in ls)), _name,
       _value)
def test_set_changes_only_that_name_and_keeps_comments(text, name, value):
    _, warnings = parse_maincf(text)
    if any("whitespace" in w.message for w in warnings):
        return  # an indented first line is skipped by both, nothing to compare
    edited = edit_text(text, {name: value})
    expected = _values(text) | {name: value}
    assert _values(edited) == expected
    assert _comments(edited) == _comments(text)


@given(st.lists(_line, max_size=12).map(lambda ls: "".join(x + "\n" for x in ls)), _name)
def test_remove_drops_only_that_name(text, name):
    if text.startswith(" "):
        return
    expected = _values(text)
    expected.pop(name, None)
    assert _values(edit_text(text, remove=[name])) == expected
    assert _comments(edit_text(text, remove=[name])) == _comments(text)


@pytest.mark.parametrize("verb", ["newaliases", "flush"])
def test_verbs_that_act_take_no_arguments_and_help_does_not_act(tmp_path, affix, verb):
    (tmp_path / "main.cf").write_text(f"alias_database = hash:{tmp_path}/aliases\n"
                                      f"queue_directory = {tmp_path}/q\n")
    (tmp_path / "aliases").write_text("postmaster: root\n")
    asked = affix("-c", str(tmp_path), verb, "--help")
    assert asked.returncode == 0 and asked.stdout.startswith(f"usage: affix [-c DIR] {verb}\n")
    wrong = affix("-c", str(tmp_path), verb, "now")
    assert wrong.returncode == 2 and wrong.stderr == f"usage: affix [-c DIR] {verb}\n"
    assert not (tmp_path / "aliases.lmdb").exists()  # nothing was built


def test_main_cf_warnings_go_to_stderr_as_postconf_prints_them(confdir, conf):
    (confdir / "main.cf").write_text("myorigin = a\nmyorigin = b\n")
    done = conf("-n")
    assert done.stdout.endswith("myorigin = b\n")
    assert f"{confdir}/main.cf:2: warning: overriding earlier entry: myorigin=a" in done.stderr


def test_dx_expands_defaults_among_defaults(confdir, conf):
    (confdir / "main.cf").write_text("myhostname = mx.example.org\nrelay_domains = x\n")
    done = conf("-dx", "relay_domains", "mydestination")
    assert "$" not in done.stdout
    assert "mx.example.org" not in done.stdout  # main.cf plays no part in -d
    assert done.stdout.splitlines()[1].startswith("mydestination = ")
