"""Config snapshot: typed values with file:line errors, computed defaults, unused names."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from affix.config import netif
from affix.config.errors import ConfigError
from affix.config.snapshot import load_config, split_list


def config(tmp_path, text: str):
    (tmp_path / "main.cf").write_text(text)
    return load_config(str(tmp_path))


def test_booleans_are_yes_or_no_in_any_case(tmp_path):
    cfg = config(tmp_path, "smtpd_helo_required = YES\ndisable_vrfy_command = No\n")
    assert cfg.bool("smtpd_helo_required") is True
    assert cfg.bool("disable_vrfy_command") is False


def test_bad_boolean_names_file_and_line(tmp_path):
    cfg = config(tmp_path, "# x\nsmtpd_helo_required = true\n")
    with pytest.raises(ConfigError) as e:
        cfg.bool("smtpd_helo_required")
    assert str(e.value) == (f"{tmp_path}/main.cf:2: bad boolean configuration: "
                            "smtpd_helo_required = true")


def test_bad_number_and_size_name_file_and_line(tmp_path):
    cfg = config(tmp_path, "smtpd_recipient_limit = lots\nmessage_size_limit = 10m\n")
    with pytest.raises(ConfigError, match=r"main.cf:1: bad numerical configuration: "
                                          r"smtpd_recipient_limit = lots"):
        cfg.int("smtpd_recipient_limit")
    with pytest.raises(ConfigError, match=r"main.cf:2: bad numerical configuration: "
                                          r"message_size_limit = 10m"):
        cfg.size("message_size_limit")


@pytest.mark.parametrize("value, seconds", [("300s", 300), ("5m", 300), ("2h", 7200),
                                            ("1d", 86400), ("1w", 604800), ("45", 45)])
def test_time_units(tmp_path, value, seconds):
    assert config(tmp_path, f"smtpd_timeout = {value}\n").time("smtpd_timeout") == seconds


def test_bare_number_uses_the_parameter_default_unit(tmp_path):
    cfg = config(tmp_path, "maximal_queue_lifetime = 2\ndelay_warning_time = 4\n")
    assert cfg.time("maximal_queue_lifetime") == 2 * 86400
    assert cfg.time("delay_warning_time") == 4 * 3600


def test_bad_time_names_file_and_line(tmp_path):
    cfg = config(tmp_path, "smtpd_timeout = 5x\n")
    with pytest.raises(ConfigError) as e:
        cfg.time("smtpd_timeout")
    assert str(e.value) == (f"{tmp_path}/main.cf:1: parameter smtpd_timeout: "
                            "bad time value or unit: 5x")


def test_stress_dependent_default_expands(tmp_path):
    cfg = config(tmp_path, "")
    assert cfg.time("smtpd_timeout") == 300 and cfg.int("smtpd_hard_error_limit") == 20
    assert config(tmp_path, "stress = yes\n").time("smtpd_timeout") == 10


def test_lists_split_on_commas_and_whitespace_with_brace_groups():
    assert split_list("a, b\tc,,d  inline:{ x=1, y=2 } e") == [
        "a", "b", "c", "d", "inline:{ x=1, y=2 }", "e"]


@given(st.lists(st.from_regex(r"[a-z0-9:/._]{1,10}", fullmatch=True), max_size=8),
       st.lists(st.sampled_from([",", " ", ", ", "\t", " ,  "]), min_size=8, max_size=8))
def test_split_list_round_trip(items, seps):
    text = "".join(item + sep for item, sep in zip(items, seps, strict=False))
    assert split_list(text) == items


def test_table_references_must_be_type_name(tmp_path):
    cfg = config(tmp_path, "alias_maps = hash:/etc/aliases, inline:{ a=b }\n"
                           "header_checks = /etc/affix/header_checks\n")
    assert cfg.maps("alias_maps") == ["hash:/etc/aliases", "inline:{ a=b }"]
    with pytest.raises(ConfigError, match=r'main.cf:2: parameter header_checks: expecting '
                                          r'"type:name"'):
        cfg.maps("header_checks")


def test_validate_reports_every_bad_value_with_its_line(tmp_path):
    cfg = config(tmp_path, "smtpd_helo_required = maybe\nsmtpd_timeout = soon\n"
                           "myorigin = ${oops\n")
    problems = sorted(str(p) for p in cfg.validate())
    assert problems == [
        f"{tmp_path}/main.cf:1: bad boolean configuration: smtpd_helo_required = maybe",
        f"{tmp_path}/main.cf:2: parameter smtpd_timeout: bad time value or unit: soon",
        f'{tmp_path}/main.cf:3: parameter myorigin: truncated macro reference: "${{oops"',
    ]


def test_expansion_error_names_the_parameter_holding_the_bad_value(tmp_path):
    cfg = config(tmp_path, "myorigin = $broken\nbroken = ${x\n")
    with pytest.raises(ConfigError, match=r"main.cf:2: parameter broken: truncated"):
        cfg.get("myorigin")


def test_raw_parameters_are_not_expanded(tmp_path):
    cfg = config(tmp_path, "smtpd_reject_footer = see $client_address\n")
    assert cfg.get("smtpd_reject_footer") == "see $client_address"
    assert "$rbl_code" in cfg.get("default_rbl_reply")


def test_overrides_win_and_errors_name_the_master_cf_line(tmp_path):
    cfg = config(tmp_path, "smtpd_helo_required = no\n")
    svc = cfg.with_overrides({"smtpd_helo_required": "perhaps"}, ("/x/master.cf", 7))
    assert cfg.bool("smtpd_helo_required") is False
    with pytest.raises(ConfigError, match=r"^/x/master.cf:7: bad boolean"):
        svc.bool("smtpd_helo_required")


def test_unknown_parameter_warns_with_did_you_mean(tmp_path):
    cfg = config(tmp_path, "smtpd_helo_requred = yes\nmy_class = reject\n"
                           "smtpd_restriction_classes = my_class\nbiff = no\n"
                           "zork = 1\nlocal_x = 2\nmyorigin = $local_x\n")
    assert [str(w) for w in cfg.unused_warnings()] == [
        f"{tmp_path}/main.cf:1: warning: unused parameter: smtpd_helo_requred=yes "
        "(did you mean smtpd_helo_required?)",
        f"{tmp_path}/main.cf:4: warning: Postfix parameter not used by affix: biff=no",
        f"{tmp_path}/main.cf:5: warning: unused parameter: zork=1",
    ]


def test_a_reference_from_an_ignored_parameter_is_no_use(tmp_path):
    """rspamd's recipe: `non_smtpd_milters = $smtpd_milters` must not hide smtpd_milters
    (affix uses neither); a chain through a used parameter still counts."""
    cfg = config(tmp_path, "smtpd_milters = inet:localhost:11332\n"
                           "non_smtpd_milters = $smtpd_milters\n"
                           "base_nets = 10.0.0.0/8\nmy_nets = $base_nets\nmynetworks = $my_nets\n")
    assert [w.line for w in cfg.unused_warnings()] == [1, 2]
    assert "(no milter runs: no DKIM signing, no milter spam or virus checks)" in \
        cfg.unused_warnings()[0].message


def test_settings_that_ask_for_a_missing_feature_warn_whatever_refers_to_them(tmp_path):
    cfg = config(tmp_path, "content_filter = amavis:[127.0.0.1]:10024\n"
                           "relayhost = [smtp.example.net]:587\nmailbox_transport = \n"
                           "virtual_transport = virtual\nqueue_minfree = 20000000\n"
                           "other = $relayhost\nmyorigin = $other\n")
    assert [str(w).split(": warning: ")[1] for w in cfg.unused_warnings()] == [
        "Postfix feature affix does not have: content_filter=amavis:[127.0.0.1]:10024 (mail "
        "is not handed to this content filter (no scan by it): it is delivered as it arrives)",
        "Postfix feature affix does not have: relayhost=[smtp.example.net]:587 (affix has no "
        "SMTP client yet: mail for other domains waits in the queue and returns to its sender "
        "after maximal_queue_lifetime)",
        "Postfix parameter not used by affix: virtual_transport=virtual",  # Postfix's default
        "Postfix feature affix does not have: queue_minfree=20000000 (mail is not refused "
        "when the queue's file system runs low)"]


def test_a_setting_that_expands_to_nothing_asks_for_no_missing_feature(tmp_path):
    cfg = config(tmp_path, "scanner =\ncontent_filter = $scanner\n"
                           "relayhost = ${use_relay?[smtp.example.net]}\n")
    assert [w.message for w in cfg.unused_warnings()
            if "feature" in w.message] == []


def test_conditional_references_and_dollar_signs_are_no_undefined_names(tmp_path):
    cfg = config(tmp_path, "message_size_limit = ${big_mail:52428800}\n"
                           "smtpd_banner = $myhostname ESMTP ${unset_thing?ready}$$literal\n"
                           "mydestination = $myhostnme\n")
    assert cfg.size("message_size_limit") == 52428800
    assert [w.message.split(" refers to ")[1].split(",")[0]
            for w in cfg.undefined_warnings()] == ["$myhostnme"]


def test_myorigin_naming_a_file_reads_the_mail_name_from_it_as_debian_does(tmp_path):
    (tmp_path / "mailname").write_text("kororo.jp\n# not read\n")
    cfg = config(tmp_path, f"myorigin = {tmp_path}/mailname\nmydestination = $myorigin, "
                           "localhost\n")
    assert cfg.get("myorigin") == "kororo.jp"
    assert cfg.list("mydestination") == ["kororo.jp", "localhost"]
    missing = config(tmp_path, f"myorigin = {tmp_path}/nothing\n")
    assert [str(e) for e in missing.validate()] == [
        f"{tmp_path}/main.cf:1: myorigin = {tmp_path}/nothing: cannot read the mail name "
        "from it: No such file or directory"]


def test_myhostname_and_mydomain_follow_each_other(tmp_path):
    cfg = config(tmp_path, "myhostname = mx.kororo.jp\n")
    assert cfg.get("mydomain") == "kororo.jp"
    assert cfg.get("mydestination") == "mx.kororo.jp, localhost.kororo.jp, localhost"
    host = config(tmp_path, "").get("myhostname")
    assert "." in host


def test_mynetworks_follows_mynetworks_style(tmp_path):
    ifaces = netif.local_interfaces()
    host = config(tmp_path, "mynetworks_style = host\n").list("mynetworks")
    subnet = config(tmp_path, "compatibility_level = 0\n").list("mynetworks")
    assert "127.0.0.1/32" in host and "127.0.0.0/8" in subnet
    assert len(host) == len({str(i.ip) for i in ifaces})
    for item in subnet:
        ipaddress.ip_network(item.replace("[", "").replace("]", ""))


def test_mynetworks_formats_match_postfix():
    ifaces = netif.parse_ip_addr(
        "1: lo    inet 127.0.0.1/8 scope host lo\\\n"
        "4: eth0    inet 172.20.3.4/24 brd 192.0.2.255 scope global eth0\\\n"
        "1: lo    inet6 ::1/128 scope host \\\n"
        "4: eth0    inet6 fe80::fc:ff:fe00:1/64 scope link \\\n")
    assert netif.mynetworks("host", ifaces) == \
        "127.0.0.1/32 172.20.3.4/32 [::1]/128 [fe80::fc:ff:fe00:1]/128"
    assert netif.mynetworks("subnet", ifaces) == "127.0.0.0/8 172.20.3.0/24 [::1]/128 [fe80::]/64"
    assert netif.mynetworks("class", ifaces) == "127.0.0.0/8 172.20.0.0/16 [::1]/128 [fe80::]/64"
    assert netif.mynetworks("host", ifaces, frozenset({4})) == "127.0.0.1/32 172.20.3.4/32"


def test_if_inet6_fallback_parses_proc_format():
    text = ("fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n"
            "00000000000000000000000000000001 01 80 10 80       lo\n")
    assert [str(i) for i in netif.parse_if_inet6(text)] == ["fe80::fc:ff:fe00:1/64", "::1/128"]


def test_missing_main_cf_is_a_config_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"main.cf: No such file or directory"):
        load_config(str(tmp_path / "nowhere"))


def test_values_outside_a_parameters_choices_or_minimum_are_errors(tmp_path):
    """A typo must not quietly mean something else: mynetworks_style = hosts used to mean
    subnet, trusting every host of the local networks."""
    cfg = config(tmp_path, "mynetworks_style = hosts\ninet_protocols = ipv4, ipv5\n"
                           "smtpd_tls_security_level = MAY\ndefault_process_limit = 0\n")
    assert [str(p) for p in cfg.validate()] == [
        f"{tmp_path}/main.cf:4: invalid default_process_limit parameter value 0 < 1",
        f'{tmp_path}/main.cf:2: unknown inet_protocols value "ipv5" (one of: all, ipv4, ipv6)',
        f'{tmp_path}/main.cf:1: unknown mynetworks_style value "hosts" (one of: host, subnet, '
        'class)']
