"""startup_check (config.md §3) and check_restrictions for `affix check`."""

from __future__ import annotations

import pytest

from affix.config.errors import ConfigError
from affix.config.snapshot import load_config
from affix.policy.engine import RELAY_RULE
from affix.policy.validate import check_restrictions
from fixtures.files import MEMO


def config(tmp_path, text):
    (tmp_path / "main.cf").write_text(text)
    return load_config(str(tmp_path))


@pytest.mark.parametrize("lists", [
    "smtpd_relay_restrictions = permit_mynetworks\n"
    "smtpd_recipient_restrictions = permit_sasl_authenticated\n",
    # only a warning: the relay test would let everything through (Postfix refuses it too)
    "smtpd_relay_restrictions = permit_mynetworks, warn_if_reject reject_unauth_destination\n"
    "smtpd_recipient_restrictions =\n",
    # ... a whole class named after warn_if_reject too
    "smtpd_restriction_classes = relay\nrelay = permit_sasl_authenticated, "
    "reject_unauth_destination\nsmtpd_relay_restrictions = warn_if_reject relay\n"
    "smtpd_recipient_restrictions =\n",
    # a permit ends the list: the blocker after it never runs
    "smtpd_relay_restrictions = permit, reject_unauth_destination\n"
    "smtpd_recipient_restrictions =\n",
])
def test_startup_fatal_without_relay_blocking_restriction(policy, tmp_path, lists):
    engine = policy.engine(lists)
    with pytest.raises(ConfigError) as err:
        engine.startup_check()
    assert RELAY_RULE in str(err.value)
    assert str(err.value).startswith(f"{tmp_path}/main.cf:")


@pytest.mark.parametrize("lists", [
    "",  # level 3.7 default relay list ends in defer_unauth_destination
    "smtpd_relay_restrictions =\nsmtpd_recipient_restrictions = permit_mynetworks, reject",
    "smtpd_relay_restrictions =\nsmtpd_restriction_classes = c\nc = check_relay_domains\n"
    "smtpd_recipient_restrictions = c",
])
def test_startup_accepts_a_relay_blocking_restriction(policy, lists):
    policy.engine(lists).startup_check()


def test_check_reports_the_memo_token_with_its_file_and_line(tmp_path):
    text = (MEMO / "main.cf").read_text()
    problems = check_restrictions(config(tmp_path, text))
    token = "//逆引きができないホストの接続を拒否"
    # the physical line of the token, not the first line of the list it is in
    line = next(n for n, t in enumerate(text.splitlines(), 1) if token in t)
    assert line > text.splitlines().index("smtpd_client_restrictions =") + 1
    assert problems == [f'{tmp_path}/main.cf:{line}: smtpd_client_restrictions: unknown smtpd '
                        'restriction: "//逆引きができないホストの接続を拒否"']


def test_check_reports_missing_arguments_bad_filters_and_bare_tables(tmp_path):
    cfg = config(tmp_path, "compatibility_level = 3.7\n"
                 "smtpd_client_restrictions = check_client_access permit, "
                 "reject_rbl_client zen.spamhaus.org=127.0.0.[2..300]\n"
                 "smtpd_data_restrictions = hash:/etc/x\n"
                 "smtpd_recipient_restrictions = check_policy_service\n")
    problems = check_restrictions(cfg)
    assert len(problems) == 4
    assert problems[0].startswith(f"{tmp_path}/main.cf:2: smtpd_client_restrictions: "
                                  'restriction check_client_access: bad argument "permit"')
    assert "RBL reply error" in problems[1]
    assert "check_policy_service requires an argument" in problems[2]
    assert problems[3].startswith(f"{tmp_path}/main.cf:3: smtpd_data_restrictions: a bare "
                                  'table "hash:/etc/x"')


def test_check_reports_the_fatal_relay_rule(tmp_path):
    text = (MEMO / "main-postfix1.cf").read_text()
    line = text.splitlines().index("smtpd_recipient_restrictions = reject_maps_rbl") + 1
    problems = check_restrictions(config(tmp_path, text))
    assert problems == [f"{tmp_path}/main.cf:{line}: {RELAY_RULE} (compatibility_level is "
                        "below 1, so smtpd_relay_restrictions is empty; set compatibility_level "
                        "= 3.7 for the current defaults)"]


def test_fixed_memo_config_has_no_problems(tmp_path):
    assert check_restrictions(config(tmp_path, (MEMO / "main-fixed.cf").read_text())) == []
