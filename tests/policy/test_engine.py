"""Engine semantics: stages and delay_reject, permit/DUNNO/reject, the defer_if_* and
warn_if_reject flags (restrictions.md §2), reply construction and errors (§3), classes."""

from __future__ import annotations

from affix.policy.request import NameStatus, Stage

# Only the lists a test sets are active (no relay list, no implicit recipient check), so each
# test shows one rule.
ISOLATED = """\
smtpd_relay_restrictions =
smtpd_reject_unlisted_recipient = no
"""


def rcpt(policy, maincf, **facts):
    return policy.rcpt(ISOLATED + maincf, **facts)


# --- permit / DUNNO / reject --------------------------------------------------------------------

def test_permit_ends_only_its_own_list(policy):
    run = rcpt(policy, "smtpd_client_restrictions = permit\n"
                       "smtpd_sender_restrictions = reject\n")
    assert run.reply == "554 5.7.1 <a@example.org>: Sender address rejected: Access denied"


def test_running_off_the_end_of_every_list_accepts(policy):
    run = rcpt(policy, "smtpd_client_restrictions = permit_inet_interfaces\n")
    assert run.reply is None
    assert run.log == []


def test_reject_and_defer_use_the_list_reply_name_and_class(policy):
    assert rcpt(policy, "smtpd_client_restrictions = reject").reply == \
        "554 5.7.1 <mail.example.org[192.0.2.7]>: Client host rejected: Access denied"
    assert rcpt(policy, "smtpd_helo_restrictions = defer").reply == \
        "450 4.3.2 <mail.example.org>: Helo command rejected: Try again later"
    assert rcpt(policy, "smtpd_recipient_restrictions = reject").reply == \
        "554 5.7.1 <kororo@kororo.jp>: Recipient address rejected: Access denied"


def test_address_restriction_keeps_its_own_class_in_another_list(policy):
    run = rcpt(policy, "smtpd_recipient_restrictions = check_sender_access "
                       "inline:{a@example.org=REJECT}")
    assert run.reply == "554 5.7.1 <a@example.org>: Sender address rejected: Access denied"


def test_postmaster_is_accepted_without_any_check(policy):
    run = rcpt(policy, "smtpd_client_restrictions = reject", recipient="Postmaster")
    assert run.reply is None


def test_permit_after_permit_warns_at_start(policy):
    policy.engine(ISOLATED + "smtpd_client_restrictions = permit, reject")
    assert "warning: restriction `reject' after `permit' is ignored" in \
        policy.stream.getvalue()


# --- delay_reject -----------------------------------------------------------------------------

def test_delay_reject_no_rejects_client_at_connect(policy):
    engine = policy.engine(ISOLATED + "smtpd_delay_reject = no\n"
                                      "smtpd_client_restrictions = reject")
    state = policy.session(helo=None, sender=None, recipient=None, protocol="SMTP")
    run = policy.check(engine, Stage.CONNECT, state)
    assert run.reply == \
        "554 5.7.1 <mail.example.org[192.0.2.7]>: Client host rejected: Access denied"
    assert run.lines("reject:") == [
        "NOQUEUE: reject: CONNECT from mail.example.org[192.0.2.7]: 554 5.7.1 "
        "<mail.example.org[192.0.2.7]>: Client host rejected: Access denied; proto=SMTP"]


def test_delay_reject_no_rejects_helo_at_helo_and_sender_at_mail(policy):
    engine = policy.engine(ISOLATED + "smtpd_delay_reject = no\n"
                           "smtpd_helo_restrictions = reject_non_fqdn_helo_hostname\n"
                           "smtpd_sender_restrictions = reject_non_fqdn_sender\n")
    helo = policy.check(engine, Stage.EHLO, policy.session(helo="pc5", sender=None,
                                                          recipient=None))
    assert helo.reply == "504 5.5.2 <pc5>: Helo command rejected: need fully-qualified hostname"
    assert helo.lines("reject:")[0].startswith("NOQUEUE: reject: EHLO from ")
    mail = policy.check(engine, Stage.MAIL, policy.session(sender="a@localhost",
                                                          recipient=None))
    assert mail.reply.startswith("504 5.5.2 <a@localhost>: Sender address rejected")
    # ... and the lists are not run again at RCPT
    assert policy.check(engine, Stage.RCPT, policy.session(helo="pc5")).reply is None


def test_delay_reject_yes_does_nothing_before_rcpt(policy):
    engine = policy.engine(ISOLATED + "smtpd_client_restrictions = reject")
    for stage in (Stage.CONNECT, Stage.EHLO, Stage.MAIL):
        assert policy.check(engine, stage, policy.session()).reply is None


def test_delay_reject_no_skips_message_actions_in_client_list(policy):
    engine = policy.engine(ISOLATED + "smtpd_delay_reject = no\nsmtpd_client_restrictions = "
                           "check_client_access inline:{192.0.2.7=HOLD}")
    run = policy.check(engine, Stage.CONNECT, policy.session())
    assert run.verdict.hold is None
    assert any("with smtpd_delay_reject=no, action HOLD is always skipped in Client host or "
               "Helo command restrictions" in line for line in run.lines("warning"))


def test_defer_if_permit_from_client_stage_applies_at_rcpt_with_delay_reject_no(policy):
    engine = policy.engine(ISOLATED + "smtpd_delay_reject = no\n"
                                      "smtpd_client_restrictions = defer_if_permit")
    state = policy.session()
    assert policy.check(engine, Stage.CONNECT, state).reply is None
    assert policy.check(engine, Stage.EHLO, state).reply is None
    assert policy.check(engine, Stage.MAIL, state).reply is None
    run = policy.check(engine, Stage.RCPT, state)
    assert run.reply == ("450 4.7.0 <mail.example.org[192.0.2.7]>: Client host rejected: "
                         "defer_if_permit requested")


# --- flags --------------------------------------------------------------------------------------

def test_defer_if_permit_turns_a_final_pass_into_its_450(policy):
    run = rcpt(policy, "smtpd_client_restrictions = defer_if_permit, permit")
    assert run.reply == ("450 4.7.0 <mail.example.org[192.0.2.7]>: Client host rejected: "
                         "defer_if_permit requested")


def test_defer_if_permit_loses_to_a_later_5xx(policy):
    run = rcpt(policy, "smtpd_client_restrictions = defer_if_permit\n"
                       "smtpd_recipient_restrictions = reject")
    assert run.reply == "554 5.7.1 <kororo@kororo.jp>: Recipient address rejected: Access denied"


def test_defer_if_permit_keeps_the_first_reason(policy):
    run = rcpt(policy, "smtpd_client_restrictions = check_client_access "
                       "inline:{{192.0.2.7=DEFER_IF_PERMIT first}}, defer_if_permit")
    assert run.reply == "450 4.7.1 <mail.example.org[192.0.2.7]>: Client host rejected: first"


def test_defer_if_reject_turns_a_later_5xx_into_its_450(policy):
    run = rcpt(policy, "smtpd_recipient_restrictions = defer_if_reject, reject")
    assert run.reply == ("450 4.7.0 <kororo@kororo.jp>: Recipient address rejected: "
                         "defer_if_reject requested")


def test_defer_if_reject_is_reset_at_each_stage(policy):
    run = rcpt(policy, "smtpd_client_restrictions = defer_if_reject\n"
                       "smtpd_sender_restrictions = reject")
    assert run.reply.startswith("554 5.7.1 <a@example.org>")


def test_defer_if_reject_does_not_change_a_4xx_or_a_pass(policy):
    assert rcpt(policy, "smtpd_client_restrictions = defer_if_reject, defer").reply \
        .startswith("450 4.3.2 ")
    assert rcpt(policy, "smtpd_client_restrictions = defer_if_reject").reply is None


def test_warn_if_reject_logs_reject_warning_and_continues(policy):
    run = rcpt(policy, "smtpd_client_restrictions = warn_if_reject, reject, "
                       "warn_if_reject reject_non_fqdn_helo_hostname", helo="pc5")
    assert run.reply is None
    assert run.lines("reject_warning") == [
        "NOQUEUE: reject_warning: RCPT from mail.example.org[192.0.2.7]: 554 5.7.1 "
        "<mail.example.org[192.0.2.7]>: Client host rejected: Access denied; "
        "from=<a@example.org> to=<kororo@kororo.jp> proto=ESMTP helo=<pc5>",
        "NOQUEUE: reject_warning: RCPT from mail.example.org[192.0.2.7]: 504 5.5.2 <pc5>: "
        "Helo command rejected: need fully-qualified hostname; from=<a@example.org> "
        "to=<kororo@kororo.jp> proto=ESMTP helo=<pc5>"]


def test_warn_if_reject_applies_to_the_next_restriction_only(policy):
    run = rcpt(policy, "smtpd_client_restrictions = warn_if_reject, permit_inet_interfaces, "
                       "reject")
    assert run.reply.startswith("554 5.7.1 ")


def test_warn_if_reject_does_not_convert_configuration_errors(policy):
    run = rcpt(policy, "smtpd_client_restrictions = warn_if_reject, no_such_restriction")
    assert run.reply == "451 4.3.5 Server configuration error"


def test_list_stops_once_both_flags_are_set(policy):
    run = rcpt(policy, "smtpd_client_restrictions = defer_if_permit, defer_if_reject, reject")
    assert run.reply == ("450 4.7.0 <mail.example.org[192.0.2.7]>: Client host rejected: "
                         "defer_if_permit requested")
    assert [t.restriction for t in run.trace] == ["defer_if_permit", "defer_if_reject"]


def test_tempfail_action_defer_rejects_at_once(policy):
    policy.dns.servfail("alor.aaa.jp")
    run = rcpt(policy, "unknown_helo_hostname_tempfail_action = defer\n"
                       "smtpd_helo_restrictions = reject_unknown_helo_hostname\n"
                       "smtpd_recipient_restrictions = reject", helo="alor.aaa.jp")
    assert run.reply == "450 4.7.1 <alor.aaa.jp>: Helo command rejected: Host not found"


def test_tempfail_default_defer_if_permit_loses_to_later_reject(policy):
    policy.dns.servfail("alor.aaa.jp")
    maincf = "smtpd_helo_restrictions = reject_unknown_helo_hostname\n"
    assert rcpt(policy, maincf, helo="alor.aaa.jp").reply == \
        "450 4.7.1 <alor.aaa.jp>: Helo command rejected: Host not found"
    assert rcpt(policy, maincf + "smtpd_recipient_restrictions = reject",
                helo="alor.aaa.jp").reply.startswith("554 5.7.1 <kororo@kororo.jp>")


# --- reply construction --------------------------------------------------------------------------

def test_dsn_first_digit_follows_the_code(policy):
    run = rcpt(policy, "smtpd_client_restrictions = check_client_access "
                       "inline:{{192.0.2.7=550 4.7.1 no}}")
    assert run.reply == "550 5.7.1 <mail.example.org[192.0.2.7]>: Client host rejected: no"


def test_a_non_4xx_5xx_code_in_an_access_value_is_an_unknown_restriction(policy):
    """Only 4xx and 5xx are replies in an access table: `250 fine` is read as restriction
    names, and "250" is none (Postfix 3.7: the same warning and 451 4.3.5)."""
    run = rcpt(policy, "smtpd_client_restrictions = check_client_access "
                       "inline:{{192.0.2.7=250 fine}}")
    assert run.reply == "451 4.3.5 Server configuration error"
    assert any('unknown smtpd restriction: "250"' in line for line in run.lines("warning"))


def test_reply_truncated_to_510_characters(policy):
    run = rcpt(policy, "smtpd_client_restrictions = check_client_access "
                       "inline:{{192.0.2.7=REJECT " + "x" * 600 + "}}")
    assert len(run.reply) == 510


def test_soft_bounce_turns_5xx_into_4xx(policy):
    run = rcpt(policy, "soft_bounce = yes\nsmtpd_client_restrictions = reject")
    assert run.reply.startswith("454 4.7.1 <mail.example.org[192.0.2.7]>")


def test_table_dsn_for_wrong_thing_is_mapped_and_logged(policy):
    run = rcpt(policy, "smtpd_client_restrictions = check_client_access "
                       "inline:{{192.0.2.7=REJECT 5.1.1 no such user}}")
    assert run.reply.startswith("554 5.0.0 <mail.example.org[192.0.2.7]>")
    assert "mapping DSN status 5.1.1 into Client host status 5.0.0" in run.lines("mapping")


def test_sender_dsn_mapping(policy):
    run = rcpt(policy, "smtpd_sender_restrictions = check_sender_access "
                       "inline:{{a@example.org=550 5.1.1 unknown}}")
    assert run.reply == "550 5.1.7 <a@example.org>: Sender address rejected: unknown"


def test_dsn_mapping_logs_the_status_as_the_table_wrote_it(policy):
    """Postfix's mapping line keeps the entry's class (4.1.1 in a 550 entry); the reply's
    status follows the code."""
    run = rcpt(policy, "smtpd_sender_restrictions = check_sender_access "
                       "inline:{{a@example.org=550 4.1.1 mixed}}")
    assert run.reply == "550 5.1.7 <a@example.org>: Sender address rejected: mixed"
    assert "mapping DSN status 4.1.1 into Sender address status 4.1.7" in run.lines("mapping")


def test_reject_footer_is_sent_but_not_logged(policy):
    run = rcpt(policy, "smtpd_reject_footer = see http://kororo.jp/help?$client_address\n"
                       "smtpd_client_restrictions = reject")
    assert run.verdict.reply.text.endswith("\nsee http://kororo.jp/help?192.0.2.7")
    assert "http" not in run.lines("reject:")[0]


# --- errors ---------------------------------------------------------------------------------------

def test_unknown_restriction_name(policy):
    run = rcpt(policy, "smtpd_helo_restrictions = reject_everything_bad")
    assert run.reply == "451 4.3.5 Server configuration error"
    assert 'warning: unknown smtpd restriction: "reject_everything_bad"' in run.lines("warning")


def test_check_access_without_table_argument(policy):
    run = rcpt(policy, "smtpd_client_restrictions = check_client_access reject")
    assert run.reply == "451 4.3.5 Server configuration error"
    assert ('warning: restriction check_client_access: bad argument "reject": need '
            'maptype:mapname') in run.lines("warning")


def test_bare_table_in_data_list_is_a_configuration_error(policy):
    engine = policy.engine(ISOLATED + "smtpd_data_restrictions = inline:{x=y}")
    run = policy.check(engine, Stage.DATA, policy.session(recipients=["a@kororo.jp"]))
    assert run.reply == "451 4.3.5 Server configuration error"
    assert any('before Data command restriction "inline:{x=y}"' in line
               for line in run.lines("warning"))
    assert "DATA from mail.example.org[192.0.2.7]" in run.lines("reject:")[0]


def test_missing_table_file_gives_451_naming_the_table(policy, tmp_path):
    run = rcpt(policy, f"smtpd_client_restrictions = check_client_access hash:{tmp_path}/none")
    assert run.reply == "451 4.3.5 Server configuration error"
    assert any(f"hash:{tmp_path}/none" in line for line in run.lines("warning"))


def test_lookup_table_inside_access_value_is_refused(policy):
    run = rcpt(policy, "smtpd_client_restrictions = check_client_access "
                       "inline:{{192.0.2.7=check_sender_access hash:/x}}")
    assert run.reply == "451 4.3.5 Server configuration error"
    assert "warning: do not specify lookup tables inside SMTPD access maps" in \
        run.lines("warning")


def test_ok_from_reverse_client_access_is_refused(policy):
    run = rcpt(policy, "smtpd_client_restrictions = check_reverse_client_hostname_access "
                       "inline:{mail.example.org=OK}")
    assert run.reply == "451 4.3.5 Server configuration error"
    assert "warning: use DUNNO instead of OK if you want to make an exception" in \
        run.lines("warning")


# --- nesting --------------------------------------------------------------------------------------

def test_restriction_class_evaluated_in_callers_context(policy):
    run = rcpt(policy, "smtpd_restriction_classes = strict\n"
                       "strict = reject_non_fqdn_helo_hostname, inline:{{pc5=REJECT by class}}\n"
                       "smtpd_helo_restrictions = warn_if_reject strict, "
                       "check_helo_access inline:{pc5=strict}", helo="pc5")
    # the class via warn_if_reject only warns; the class through the table rejects, and its
    # bare table is the helo list's check_helo_access
    assert run.reply == "504 5.5.2 <pc5>: Helo command rejected: need fully-qualified hostname"
    assert len(run.lines("reject_warning")) == 2  # both class members only warn


def test_a_class_that_names_itself_through_a_table_is_a_configuration_error(policy):
    run = rcpt(policy, "smtpd_restriction_classes = loop\n"
                       "loop = check_client_access inline:{{192.0.2.7=loop}}\n"
                       "smtpd_client_restrictions = loop")
    assert run.reply == "451 4.3.5 Server configuration error"
    assert any(line.endswith("access table inline:{{192.0.2.7=loop}} entry loop causes "
                             "unreasonable recursion") for line in run.lines("warning"))


def test_access_value_with_restriction_names(policy):
    run = rcpt(policy, "smtpd_client_restrictions = check_client_access "
                       "inline:{{192.0.2 = reject_unknown_client_hostname, permit}}, reject",
               client_name="unknown", name_status=NameStatus.PERM)
    assert run.reply.startswith("450 4.7.25 Client host rejected: cannot find your hostname")
    ok = rcpt(policy, "smtpd_client_restrictions = check_client_access "
                      "inline:{{192.0.2 = reject_unknown_client_hostname, permit}}, reject")
    assert ok.reply is None


def test_message_actions_are_carried_in_the_verdict(policy):
    run = rcpt(policy, "smtpd_recipient_restrictions = check_recipient_access inline:{"
                       "{kororo@kororo.jp=HOLD}}, check_sender_access inline:{"
                       "{a@example.org=REDIRECT boss@kororo.jp}}, check_client_access inline:{"
                       "{192.0.2.7=PREPEND X-Seen: yes}}, check_helo_access inline:{"
                       "{mail.example.org=BCC archive@kororo.jp}}")
    v = run.verdict
    assert v.reply is None, run.log
    assert (v.reply, v.hold, v.redirect, v.prepend, v.bcc) == (
        None, "triggers HOLD action", "boss@kororo.jp", ["X-Seen: yes"], ["archive@kororo.jp"])
    assert [line.split(": ")[2] for line in run.log] == ["hold", "redirect", "bcc"]


def test_warn_and_info_actions_log_and_continue(policy):
    run = rcpt(policy, "smtpd_client_restrictions = check_client_access "
                       "inline:{{192.0.2.7=WARN odd client}}")
    assert run.reply is None
    assert run.lines(" warn: ") == [
        "NOQUEUE: warn: RCPT from mail.example.org[192.0.2.7]: odd client; "
        "from=<a@example.org> to=<kororo@kororo.jp> proto=ESMTP helo=<mail.example.org>"]


def test_discard_counts_as_permit(policy):
    run = rcpt(policy, "smtpd_client_restrictions = check_client_access "
                       "inline:{{192.0.2.7=DISCARD}}, reject")
    assert run.reply is None and run.verdict.discard == "triggers DISCARD action"
    assert "discard: RCPT from mail.example.org[192.0.2.7]: <mail.example.org[192.0.2.7]>: "\
           "Client host triggers DISCARD action" in run.lines("discard")[0]


# --- trace ----------------------------------------------------------------------------------------

def test_trace_records_tables_keys_and_verdicts(policy):
    run = rcpt(policy, "smtpd_client_restrictions = check_client_access "
                       "inline:{192.0.2=REJECT}", client_name="unknown")
    [record] = run.trace
    assert record.list == "smtpd_client_restrictions"
    assert record.restriction == "check_client_access inline:{192.0.2=REJECT}"
    assert record.consulted == ("inline:{192.0.2=REJECT}: 192.0.2 = REJECT",)
    assert record.verdict.startswith("554 5.7.1 <unknown[192.0.2.7]>")


def test_old_name_warns_once_per_process(policy):
    config = ISOLATED + "smtpd_helo_restrictions = reject_non_fqdn_hostname"
    engine = policy.engine(config)
    first = policy.check(engine, Stage.RCPT, policy.session())
    second = policy.check(engine, Stage.RCPT, policy.session())
    assert first.lines("warning") == [
        'warning: restriction "reject_non_fqdn_hostname" is an obsolete name; use '
        '"reject_non_fqdn_helo_hostname" instead']
    assert second.lines("warning") == []
    reloaded = policy.engine(config)  # a reload makes a new engine: no second warning
    assert policy.check(reloaded, Stage.RCPT, policy.session()).lines("warning") == []
