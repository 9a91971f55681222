"""The parameter registry: complete for the spec and the memo, defaults equal Postfix 3.7's."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from affix.config.params import PARAMS, RENAMED, Kind
from affix.config.snapshot import COMPUTED, load_config

# config.md §3-5: every parameter the defaults tables name
SPEC_NAMES = """
myhostname mydomain myorigin mydestination mynetworks mynetworks_style inet_interfaces
inet_protocols relay_domains relayhost smtpd_relay_restrictions smtpd_recipient_restrictions
smtpd_client_restrictions smtpd_helo_restrictions smtpd_sender_restrictions
smtpd_data_restrictions smtpd_end_of_data_restrictions smtpd_etrn_restrictions
smtpd_delay_reject smtpd_helo_required smtpd_soft_error_limit smtpd_hard_error_limit
smtpd_error_sleep_time smtpd_junk_command_limit smtpd_timeout smtpd_recipient_limit
smtpd_recipient_overshoot_limit smtpd_delay_open_until_valid_rcpt
smtpd_forbid_unauth_pipelining smtpd_forbid_bare_newline smtpd_forbid_bare_newline_reject_code
smtpd_forbid_bare_newline_exclusions smtpd_discard_ehlo_keywords smtpd_peername_lookup
smtpd_null_access_lookup_key smtpd_reject_unlisted_recipient smtpd_reject_unlisted_sender
smtpd_log_access_permit_actions smtpd_reject_footer line_length_limit header_size_limit
queue_directory maillog_file syslog_name syslog_facility alias_maps alias_database
local_recipient_maps home_mailbox mail_spool_directory mailbox_size_limit message_size_limit
virtual_alias_maps virtual_alias_domains maximal_queue_lifetime bounce_queue_lifetime
minimal_backoff_time maximal_backoff_time queue_run_delay delay_warning_time hopcount_limit
enable_long_queue_ids soft_bounce smtpd_tls_security_level smtpd_use_tls smtpd_enforce_tls
smtpd_tls_cert_file smtpd_tls_key_file smtpd_tls_chain_files smtpd_tls_auth_only
smtpd_sasl_auth_enable disable_vrfy_command smtpd_banner mail_name mail_version smtp_helo_name
header_checks body_checks mime_header_checks nested_header_checks body_checks_size_limit
parent_domain_matches_subdomains maps_rbl_domains default_rbl_reply rbl_reply_maps
reject_tempfail_action unknown_helo_hostname_tempfail_action unknown_address_tempfail_action
access_map_reject_code access_map_defer_code reject_code defer_code maps_rbl_reject_code
relay_domains_reject_code unknown_client_reject_code unknown_hostname_reject_code
unknown_address_reject_code invalid_hostname_reject_code non_fqdn_reject_code
unknown_local_recipient_reject_code unknown_relay_recipient_reject_code
unknown_virtual_alias_reject_code unknown_virtual_mailbox_reject_code
multi_recipient_bounce_reject_code plaintext_reject_code unverified_sender_reject_code
unverified_recipient_reject_code unverified_sender_defer_code unverified_recipient_defer_code
compatibility_level append_dot_mydomain smtputf8_enable
smtpd_relay_before_recipient_restrictions respectful_logging smtpd_tls_fingerprint_digest
smtp_tls_fingerprint_digest virtual_maps authorized_verp_clients smtpd_authorized_verp_clients
fallback_relay smtp_fallback_relay smtpd_client_connection_limit_exceptions
smtpd_client_event_limit_exceptions default_process_limit
""".split()  # noqa: SIM905

# every parameter the admin memo in the seeds sets or mentions
MEMO_NAMES = """
disable_vrfy_command smtpd_banner smtpd_client_restrictions maps_rbl_domains
smtpd_recipient_restrictions smtpd_sender_restrictions smtpd_helo_required
smtpd_helo_restrictions smtp_helo_name mailbox_size_limit message_size_limit header_checks
""".split()  # noqa: SIM905

# affix's documented differences from Postfix 3.7 (config.md, issue 2)
AFFIX_DEFAULTS = {"mail_name": "affix", "smtpd_forbid_bare_newline": "normalize",
                  "smtpd_forbid_unauth_pipelining": "yes"}


@pytest.mark.parametrize("name", sorted(set(SPEC_NAMES + MEMO_NAMES)))
def test_spec_and_memo_parameter_is_registered(name):
    assert name in PARAMS


def test_affix_differences_are_the_documented_ones_and_noted():
    for name, value in AFFIX_DEFAULTS.items():
        assert PARAMS[name].default == value and PARAMS[name].affix
    cfg = load_config(None)
    assert cfg.bool("smtpd_per_request_deadline") is True
    assert PARAMS["smtpd_per_request_deadline"].affix


def test_effective_defaults_at_level_37(tmp_path):
    (tmp_path / "main.cf").write_text("compatibility_level = 3.7\n")
    cfg = load_config(str(tmp_path))
    assert cfg.get("relay_domains") == "" and cfg.get("mynetworks_style") == "host"
    assert cfg.bool("smtputf8_enable") and not cfg.bool("append_dot_mydomain")
    assert cfg.get("smtpd_tls_fingerprint_digest") == "sha256"
    assert cfg.get("unknown_address_tempfail_action") == "defer_if_permit"
    assert cfg.int("smtpd_hard_error_limit") == 20 and cfg.time("smtpd_timeout") == 300


def test_every_registered_default_is_well_typed():
    assert load_config(None).validate() == []


def test_time_parameters_have_a_known_unit():
    for p in PARAMS.values():
        assert p.kind is not Kind.TIME or p.unit in "smhdw"


def _postconf_defaults() -> dict[str, str]:
    out = subprocess.run(["postconf", "-d"], capture_output=True, text=True, check=True).stdout
    pairs = (re.match(r"(\S+) =(?: (.*))?$", line) for line in out.splitlines())
    return {m.group(1): m.group(2) or "" for m in pairs if m}


@pytest.mark.skipif(shutil.which("postconf") is None, reason="postconf (Postfix) not installed")
def test_defaults_equal_postfix_37_except_noted_differences():
    postfix = _postconf_defaults()
    for name, param in PARAMS.items():
        if param.affix or name in COMPUTED or name in RENAMED or name not in postfix:
            continue
        assert param.default == postfix[name], name
