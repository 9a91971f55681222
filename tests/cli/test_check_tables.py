"""`affix check` names every table that cannot be used, with the main.cf line that uses it."""

from __future__ import annotations

from pathlib import Path


def _config(directory: Path, *lines: str) -> None:
    """DIR/main.cf: its own queue and data directories (lines 1-3), then `lines` (line 4 on);
    DIR/master.cf: one smtpd service (check does not listen on it)."""
    base = ["compatibility_level = 3.7", f"queue_directory = {directory}/q",
            f"data_directory = {directory}/d"]
    (directory / "main.cf").write_text("".join(f"{line}\n" for line in base + list(lines)))
    (directory / "master.cf").write_text("127.0.0.1:2599 inet n - n - - smtpd\n")


def test_check_reports_missing_and_broken_tables_with_their_lines(tmp_path, affix):
    """A table that cannot be opened is an error; a bad rule is a warning (it is skipped, and
    the server starts), shown with the errors."""
    (tmp_path / "bad_regexp").write_text("/unclosed( REJECT\n")
    _config(tmp_path,
            f"smtpd_client_restrictions = check_client_access hash:{tmp_path}/never_compiled",
            f"header_checks = regexp:{tmp_path}/bad_regexp")
    result = affix("-c", str(tmp_path), "check")
    assert result.returncode == 1
    lines = result.stdout.splitlines() + result.stderr.splitlines()
    assert any(line.startswith(f"{tmp_path}/main.cf:4: check_client_access: ")
               and "never_compiled.lmdb: No such file or directory" in line for line in lines)
    assert any(line.startswith(f"{tmp_path}/main.cf:5: warning: header_checks: ")
               and "bad_regexp" in line for line in lines), lines


def test_a_bad_table_line_is_a_warning_and_the_server_still_starts(tmp_path, affix):
    """As Postfix: the line is skipped and the rest of the table answers; one typo must not
    keep the mail server down after a reboot."""
    (tmp_path / "clients").write_text("192.168.10 REJECT\nkey-without-value\n")
    (tmp_path / "hc").write_text("/unclosed( REJECT\n/^Subject: spam/ REJECT\n")
    _config(tmp_path, f"smtpd_client_restrictions = check_client_access hash:{tmp_path}/clients",
            f"header_checks = regexp:{tmp_path}/hc")
    assert affix("-c", str(tmp_path), "map", f"hash:{tmp_path}/clients").returncode == 0
    result = affix("-c", str(tmp_path), "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (f"{tmp_path}/main.cf:4: warning: check_client_access: {tmp_path}/clients:2: "
            "expected format: key whitespace value") in result.stdout
    assert f"{tmp_path}/main.cf:5: warning: header_checks: {tmp_path}/hc:1: " in result.stdout


def test_check_passes_once_the_table_is_compiled(tmp_path, affix):
    (tmp_path / "clients").write_text("192.168.10 REJECT\n")
    _config(tmp_path, f"smtpd_client_restrictions = check_client_access hash:{tmp_path}/clients")
    assert affix("-c", str(tmp_path), "map", f"hash:{tmp_path}/clients").returncode == 0
    result = affix("-c", str(tmp_path), "check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_reads_alias_tables_in_aliases_format(tmp_path, affix):
    """Postfix's own default, alias_maps = hash:/etc/aliases, has `name: value` lines."""
    (tmp_path / "aliases").write_text('postmaster: root\nslow: "|sleep 1"\n')
    _config(tmp_path, f"alias_maps = hash:{tmp_path}/aliases",
            f"alias_database = hash:{tmp_path}/aliases")
    before = affix("-c", str(tmp_path), "check")
    assert before.returncode == 1 and "aliases.lmdb" in before.stdout + before.stderr
    assert 'run "affix newaliases"' in before.stdout  # not affix map: that is postmap's format
    assert affix("-c", str(tmp_path), "newaliases").returncode == 0
    result = affix("-c", str(tmp_path), "check")
    assert result.returncode == 0, result.stdout + result.stderr
    (tmp_path / "aliases").write_text("no colon here\n")
    broken = affix("-c", str(tmp_path), "check")
    assert f"{tmp_path}/aliases:1: missing colon in alias entry" in broken.stdout + broken.stderr


def test_an_alias_table_newaliases_does_not_build_gets_the_hint_that_works(tmp_path, affix):
    """newaliases builds what alias_database names: for a second alias table, `run affix
    newaliases` alone would bring the same error back."""
    for name in ("aliases", "more"):
        (tmp_path / name).write_text(f"{name}: root\n")
    _config(tmp_path, f"alias_maps = hash:{tmp_path}/aliases, hash:{tmp_path}/more",
            f"alias_database = hash:{tmp_path}/aliases")
    assert affix("-c", str(tmp_path), "newaliases").returncode == 0
    before = affix("-c", str(tmp_path), "check")
    assert before.returncode == 1
    assert (f'list hash:{tmp_path}/more in alias_database too, then run "affix newaliases"'
            in before.stdout)
    _config(tmp_path, f"alias_maps = hash:{tmp_path}/aliases, hash:{tmp_path}/more",
            f"alias_database = hash:{tmp_path}/aliases, hash:{tmp_path}/more")
    assert affix("-c", str(tmp_path), "newaliases").returncode == 0
    assert affix("-c", str(tmp_path), "check").returncode == 0


def test_a_stale_index_is_a_warning_not_an_error(tmp_path, affix):
    """A forgotten `affix map` before a reboot must not keep the mail server down: Postfix
    warns and answers from the old index (tables.md §1). start and reload run this check."""
    import os
    import time

    clients = tmp_path / "clients"
    clients.write_text("192.168.10 REJECT\n")
    _config(tmp_path, f"smtpd_client_restrictions = check_client_access hash:{clients}")
    assert affix("-c", str(tmp_path), "map", f"hash:{clients}").returncode == 0
    clients.write_text("192.168.10 REJECT\n192.168.11 REJECT\n")
    past = time.time() - 300  # the source changed minutes after the index was built
    os.utime(f"{clients}.lmdb", (past - 300, past - 300))
    os.utime(clients, (past, past))
    result = affix("-c", str(tmp_path), "check")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    warnings = [line for line in out.splitlines() if "older than source file" in line]
    assert len(warnings) == 1, out
    assert warnings[0].startswith(f"{tmp_path}/main.cf:4: warning: check_client_access: ")
    assert f'run "affix map hash:{clients}"' in warnings[0]


def test_check_refuses_names_and_table_types_postfix_would_not_start_with(tmp_path, affix):
    _config(tmp_path, "myhostname = bad_host!name", "mydomain = 192.0.2.1",
            "default_database_type = bogus")
    result = affix("-c", str(tmp_path), "check")
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert f"{tmp_path}/main.cf:4: bad parameter value: myhostname = bad_host!name" in out
    assert f"{tmp_path}/main.cf:5: bad parameter value: mydomain = 192.0.2.1" in out
    assert (f"{tmp_path}/main.cf:6: unsupported dictionary type: default_database_type = bogus"
            in out)


def test_check_warns_that_sasl_authentication_is_not_implemented(tmp_path, affix):
    _config(tmp_path, "smtpd_sasl_auth_enable = yes")
    result = affix("-c", str(tmp_path), "check")
    assert result.returncode == 0
    assert (f"{tmp_path}/main.cf:4: warning: service 127.0.0.1:2599: smtpd_sasl_auth_enable = "
            "yes has no effect: SASL authentication is not implemented"
            in result.stdout + result.stderr)


def test_check_says_what_an_override_asking_for_a_missing_feature_loses(tmp_path, affix):
    """Port 465 and a filtered port, as tutorials set them up: no TLS at connect, no filter."""
    _config(tmp_path)
    (tmp_path / "master.cf").write_text(
        "127.0.0.1:2599 inet n - n - - smtpd\n"
        "127.0.0.1:2465 inet n - n - - smtpd\n  -o smtpd_tls_wrappermode=yes\n"
        "127.0.0.1:2526 inet n - n - - smtpd -o content_filter=spamassassin\n")
    result = affix("-c", str(tmp_path), "check")
    assert result.returncode == 0
    assert (f"{tmp_path}/master.cf:2: warning: Postfix feature affix does not have: "
            "-o smtpd_tls_wrappermode=yes (no TLS at connect (port 465): the service speaks "
            "plain SMTP, which clients expecting TLS cannot talk to)") in result.stdout
    assert (f"{tmp_path}/master.cf:4: warning: Postfix feature affix does not have: "
            "-o content_filter=spamassassin (mail is not handed to this content filter") \
        in result.stdout


def test_check_warns_of_a_policy_service_socket_nobody_listens_on(tmp_path, affix):
    """The usual policyd-spf setup: its spawn service is not run by affix, so the socket
    never appears and every outside client would meet 451."""
    import socket

    _config(tmp_path, "smtpd_recipient_restrictions = permit_mynetworks,",
            "  reject_unauth_destination, check_policy_service unix:private/policyd-spf,",
            f"  check_policy_service unix:{tmp_path}/live",
            "policyd-spf_time_limit = 3600")
    (tmp_path / "master.cf").write_text(
        "127.0.0.1:2599 inet n - n - - smtpd\n"
        "policyd-spf unix - n n - 0 spawn user=nobody argv=/usr/bin/policyd-spf\n")
    live = socket.socket(socket.AF_UNIX)
    live.bind(str(tmp_path / "live"))
    live.listen()
    try:
        result = affix("-c", str(tmp_path), "check")
    finally:
        live.close()
    assert result.returncode == 0
    assert (f"{tmp_path}/main.cf:4: warning: smtpd_recipient_restrictions: "
            "check_policy_service unix:private/policyd-spf: no policy server listens on "
            f"{tmp_path}/q/private/policyd-spf: every request that reaches it is deferred "
            "(451 4.3.5 Server configuration problem) until one does") in result.stdout
    assert f"{tmp_path}/live:" not in result.stdout
    # a socket file its server left behind listens no more; a default action is named
    (tmp_path / "live").unlink()
    left = socket.socket(socket.AF_UNIX)
    left.bind(str(tmp_path / "live"))
    left.close()
    with open(tmp_path / "main.cf", "a") as f:
        f.write("smtpd_policy_service_default_action = DUNNO\n")
    result = affix("-c", str(tmp_path), "check")
    assert (f"no policy server listens on {tmp_path}/live: every request that reaches it "
            "gets the default action DUNNO until one does") in result.stdout
    assert ("main.cf:7: warning: Postfix parameter not used by affix: "
            "policyd-spf_time_limit=3600") in result.stdout


def test_check_warns_of_an_undefined_name_in_a_master_cf_override(tmp_path, affix):
    """Debian's submission block: `$mua_client_restrictions` is empty unless main.cf defines
    it, and the service then runs with no client restrictions at all."""
    _config(tmp_path, "mua_sender_restrictions = reject_non_fqdn_sender")
    (tmp_path / "master.cf").write_text(
        "127.0.0.1:2587 inet n - n - - smtpd\n"
        "  -o smtpd_client_restrictions=$mua_client_restrictions\n"
        "  -o smtpd_sender_restrictions=$mua_sender_restrictions\n")
    result = affix("-c", str(tmp_path), "check")
    assert result.returncode == 0
    [warning] = [line for line in result.stdout.splitlines() if "refers to" in line]
    assert warning.startswith(
        f"{tmp_path}/master.cf:1: warning: -o smtpd_client_restrictions refers to "
        "$mua_client_restrictions, which is not defined: it expands to an empty value")


def test_check_warns_of_a_virtual_setup_whose_mail_would_all_wait(tmp_path, affix):
    """Mail is not written as root: without owners (or with a relative base) every virtual
    delivery waits, and the admin hears of it before the first message."""
    _config(tmp_path, "virtual_mailbox_domains = v.example",
            "virtual_mailbox_maps = inline:{ a@v.example=v.example/a/ }")
    result = affix("-c", str(tmp_path), "check")
    assert result.returncode == 0
    assert [line.split(": warning: ")[1] for line in result.stdout.splitlines()
            if "virtual" in line] == [
        f"{name}: when affix runs as root, every virtual delivery waits in the queue (4.3.5 "
        "mail system configuration error)" for name in (
            "virtual_mailbox_base = (empty) is not an absolute directory",
            "virtual_uid_maps is empty: the virtual mailboxes have no owner",
            "virtual_gid_maps is empty: the virtual mailboxes have no owner")]


def test_check_refuses_a_network_no_address_can_match(tmp_path, affix):
    """mynetworks = 192.168.1.0/33 would make every client's search a temporary failure
    (451 to all); the lists that only inherit it are not reported again."""
    _config(tmp_path, "mynetworks = 127.0.0.0/8 192.168.1.0/33",
            "smtpd_authorized_xclient_hosts = 10.0.0.1/8")
    result = affix("-c", str(tmp_path), "check")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f'{tmp_path}/main.cf:4: bad parameter value: mynetworks: bad mask length in '
        '"192.168.1.0/33"',
        f'{tmp_path}/main.cf:5: bad parameter value: smtpd_authorized_xclient_hosts: non-null '
        'host address bits in "10.0.0.1/8", perhaps you should use "10.0.0.0/8" instead']


def test_check_warns_about_a_reference_to_an_undefined_parameter(tmp_path, affix):
    """`$myhostnme` expands to nothing: mail for the own domain would be refused as relaying.
    Templates expanded per event (smtpd_reject_footer's $client_address) are not checked."""
    _config(tmp_path, "mydestination = $myhostnme, localhost",
            "smtpd_reject_footer = contact $client_address")
    result = affix("-c", str(tmp_path), "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (f"{tmp_path}/main.cf:4: warning: mydestination refers to $myhostnme, which is not "
            "defined: it expands to an empty value (did you mean myhostname?)") in result.stdout
    assert "client_address" not in result.stdout
    _config(tmp_path, "mydestination = $myhostnme, localhost", "mynetworks = 10.0.0.0/33")
    failed = affix("-c", str(tmp_path), "check")  # an error too: the warning is still shown
    assert failed.returncode == 1 and "refers to $myhostnme" in failed.stdout


def test_odd_digits_and_bytes_in_the_config_are_reported_not_tracebacks(tmp_path, affix):
    (tmp_path / "nets").write_text("1.2.3.4/² REJECT\n")
    _config(tmp_path, "mynetworks = 1.2.3.4/²",
            f"smtpd_client_restrictions = sleep ², check_client_access cidr:{tmp_path}/nets",
            "smtpd_hard_error_limit = ٣")
    result = affix("-c", str(tmp_path), "check")
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in out
    assert "bad numerical configuration: smtpd_hard_error_limit = ٣" in out
    assert f'{tmp_path}/main.cf:4: bad parameter value: mynetworks: bad mask length' in out
    assert 'restriction sleep: bad argument "²": need a number' in out
    assert f'{tmp_path}/nets:1: bad mask length in "1.2.3.4/²": skipping this rule' in out
    (tmp_path / "master.cf").write_bytes(b"\xff\xfe inet n - n - - smtpd\n")
    for verb in ("check", "lint"):
        result = affix("-c", str(tmp_path), verb)
        assert "Traceback" not in result.stdout + result.stderr
        assert "master.cf:1: " in result.stdout + result.stderr


def test_check_warns_when_the_tls_certificate_cannot_be_loaded(tmp_path, affix):
    """The server starts without STARTTLS, as Postfix's smtpd does, but `check` says so, and
    that a service with level encrypt refuses every client."""
    _config(tmp_path, "smtpd_tls_security_level = may",
            f"smtpd_tls_cert_file = {tmp_path}/missing.pem")
    (tmp_path / "master.cf").write_text("127.0.0.1:2599 inet n - n - - smtpd\n"
                                        "127.0.0.1:2600 inet n - n - - smtpd\n"
                                        "  -o smtpd_tls_security_level=encrypt\n")
    result = affix("-c", str(tmp_path), "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (f"{tmp_path}/main.cf:5: warning: STARTTLS is not available (service "
            f"127.0.0.1:2599, 127.0.0.1:2600): cannot load certificate {tmp_path}/missing.pem"
            ) in result.stdout
    assert "encrypt: every client of 127.0.0.1:2600 is refused" in result.stdout
