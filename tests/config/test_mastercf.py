"""master.cf (config.md §6): smtpd services, -o overrides, skipped lines, errors with lines."""

from __future__ import annotations

import pytest

from affix.config.errors import ConfigError
from affix.config.mastercf import DEFAULT_MASTERCF, load_master, parse_command, parse_mastercf
from affix.config.snapshot import load_config

SUBMISSION = """\
# the usual pair
smtp       inet  n  -  n  -  -  smtpd
submission inet  n  -  n  -  -  smtpd
  -o syslog_name=postfix/submission
  # a comment inside the service
  -o smtpd_tls_security_level=encrypt
  -o { smtpd_recipient_restrictions = permit_sasl_authenticated, reject }
  -o smtpd_client_restrictions=
"""


def test_services_ports_and_overrides():
    services, warnings = parse_mastercf(SUBMISSION, "/x/master.cf")
    assert warnings == []
    smtp, sub = services
    assert (smtp.name, smtp.host, smtp.port, smtp.overrides, smtp.line) == \
        ("smtp", None, 25, {}, 2)
    assert (sub.port, sub.line, sub.where()) == (587, 3, "/x/master.cf:3")
    assert sub.overrides == {
        "syslog_name": "postfix/submission", "smtpd_tls_security_level": "encrypt",
        "smtpd_recipient_restrictions": "permit_sasl_authenticated, reject",
        "smtpd_client_restrictions": ""}


def test_options_end_where_the_commands_own_arguments_begin():
    """Debian's SpamAssassin recipe: the `-oi` after argv= is sendmail's, not master.cf's
    (the line is skipped, as affix has no pipe, but must not stop the server)."""
    services, warnings = parse_mastercf(
        "smtp inet n - n - - smtpd -v -n smtp -o smtpd_helo_required=yes\n"
        "spamassassin unix - n n - - pipe\n"
        "  user=debian-spamd argv=/usr/bin/spamc -f -e /usr/sbin/sendmail -oi -f ${sender}\n")
    [smtp] = services
    assert smtp.overrides == {"smtpd_helo_required": "yes"}
    assert len(warnings) == 1 and "spamassassin" in warnings[0].message


@pytest.mark.parametrize("words, overrides, args", [
    (["-vo", "smtpd_tls_security_level=encrypt"], {"smtpd_tls_security_level": "encrypt"},
     ("-v",)),
    (["-ts", "-o", "a=b"], {"a": "b"}, ("-t", "s")),
    (["-oa=b", "-n", "name", "-o", "c=d"], {"a": "b", "c": "d"}, ("-n", "name")),
    (["-v", "--", "-o", "x=y"], {}, ("-v", "-o", "x=y")),
])
def test_grouped_options_are_read_as_getopt_reads_them(words, overrides, args):
    """A lost -o smtpd_tls_security_level=encrypt would leave submission in plain text."""
    assert parse_command(words, "master.cf", 1) == (overrides, args)


def test_the_smtpd_behind_postscreen_keeps_its_settings():
    """Postfix hands port 25 clients from postscreen to `smtpd pass`: its -o restrictions
    are the ones port 25 mail meets, so affix's smtpd on the postscreen port takes them."""
    services, warnings = parse_mastercf(
        "smtp inet n - y - 1 postscreen\n"
        "smtpd pass - - y - - smtpd\n"
        "  -o smtpd_recipient_restrictions=check_recipient_access,inline:{root@x=REJECT}\n"
        "submission inet n - y - - smtpd -o syslog_name=postfix/submission\n"
        "other pass - - y - - smtpd\n")
    smtp, submission = services
    assert smtp.overrides == {
        "smtpd_recipient_restrictions": "check_recipient_access,inline:{root@x=REJECT}"}
    assert submission.overrides == {"syslog_name": "postfix/submission"}
    assert [(w.line, w.message) for w in warnings] == [
        (1, "service smtp: postscreen is not implemented; affix runs smtpd on this port"),
        (2, "service smtpd (pass smtpd): its -o settings apply to service smtp, where affix "
            "runs smtpd for postscreen"),
        (5, "service other (pass smtpd) is not run by affix; line skipped")]


@pytest.mark.parametrize("service, host, port", [
    ("127.0.0.1:2525", "127.0.0.1", 2525), ("[::1]:submission", "::1", 587),
    ("smtps", None, 465), ("submissions", None, 465), ("localhost:smtp", "localhost", 25),
    ("*:26", "*", 26),
])
def test_host_and_port_forms(service, host, port):
    (svc,), _ = parse_mastercf(f"{service} inet n - n - - smtpd\n")
    assert (svc.host, svc.port) == (host, port)


def test_listen_hosts_come_from_inet_interfaces_unless_the_line_names_one(tmp_path):
    (tmp_path / "main.cf").write_text("inet_interfaces = 127.0.0.1, [::1]\n")
    cfg = load_config(str(tmp_path))
    a, b, c = parse_mastercf("smtp inet n - n - - smtpd\n192.0.2.1:25 inet n - n - - smtpd\n"
                             "2526 inet n - n - - smtpd -o inet_interfaces=all\n")[0]
    assert a.listen_hosts(cfg) == ["127.0.0.1", "::1"]
    assert b.listen_hosts(cfg) == ["192.0.2.1"]
    assert c.listen_hosts(cfg) is None


def test_last_definition_of_a_service_wins():
    services, _ = parse_mastercf("smtp inet n - n - - smtpd\nsmtp inet n - n - - smtpd "
                                 "-o smtpd_helo_required=yes\n")
    assert len(services) == 1 and services[0].overrides == {"smtpd_helo_required": "yes"}


def test_services_affix_does_not_run_are_skipped_with_a_warning_naming_the_line():
    text = ("smtp inet n - n - - smtpd\ncleanup unix n - n - 0 cleanup\n"
            "maildrop unix - n n - - pipe\n  flags=DRXhu user=vmail argv=/usr/bin/maildrop\n")
    services, warnings = parse_mastercf(text, "/x/master.cf")
    assert [s.name for s in services] == ["smtp"]
    assert [str(w) for w in warnings] == [
        "/x/master.cf:3: warning: service maildrop (unix pipe) is not run by affix; "
        "line skipped"]


def test_postscreen_port_runs_smtpd_with_a_warning():
    services, warnings = parse_mastercf("smtp inet n - y - 1 postscreen\n")
    assert services[0].port == 25 and "postscreen is not implemented" in str(warnings[0])


@pytest.mark.parametrize("text, message", [
    ("smtp inet n - n - smtpd\n", "bad field count"),
    ("smtp tcp n - n - - smtpd\n", 'unknown service type "tcp"'),
    ("smtp inet y - n - - smtpd\n", "cannot be private"),
    ("smtp inet n - n - x smtpd\n", "bad maxproc"),
    ("nosuchport inet n - n - - smtpd\n", 'unknown service name "nosuchport"'),
    ("70000 inet n - n - - smtpd\n", "bad port number"),
    ("::1:25 inet n - n - - smtpd\n", "IPv6 address must be in brackets"),
    ("smtp inet n - n - - smtpd -o novalue\n", "bad -o option"),
    ("smtp inet n - n - - smtpd -o\n", "-o needs an argument"),
    ("smtp inet n - n - - smtpd -o { a = b\n", 'missing "}"'),
])
def test_bad_lines_name_file_and_line(text, message):
    with pytest.raises(ConfigError) as e:
        parse_mastercf("# header\n" + text, "/x/master.cf")
    assert str(e.value).startswith("/x/master.cf:2: ") and message in str(e.value)


def test_embedded_default_listens_on_2525_and_a_dir_without_master_cf_on_25(tmp_path):
    (svc,), _ = load_master(None)
    assert (svc.host, svc.port) == ("127.0.0.1", 2525)
    (svc,), _ = load_master(str(tmp_path))
    assert (svc.name, svc.port) == ("smtp", 25) and DEFAULT_MASTERCF.startswith("smtp ")
