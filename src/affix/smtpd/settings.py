"""smtpd's view of a Config snapshot: every parameter it needs, parsed once per snapshot.

A session reads these plain attributes on its hot path instead of expanding main.cf values
for every command. The values were checked by `affix check` (types and the registry's
choices), which start and reload run first: a bad one is refused there, never met by a
session.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from affix.config.snapshot import Config
from affix.tables.matchlist import MatchList

_BARE_NEWLINE = {"no": "no", "normalize": "normalize", "yes": "normalize", "reject": "reject"}


@dataclass(frozen=True)
class SmtpdSettings:
    hostname: str
    banner: str
    mail_name: str
    syslog_name: str
    helo_required: bool
    disable_vrfy: bool
    discard_keywords: frozenset[str]  # lowercase EHLO keywords, incl. "silent-discard"
    discard_maps: str  # smtpd_discard_ehlo_keyword_address_maps (raw list of tables)
    timeout: float
    per_request_deadline: bool
    min_data_rate: int
    line_limit: int
    size_limit: int  # 0 = unlimited
    rcpt_limit: int
    overshoot_limit: int
    soft_error_limit: int
    hard_error_limit: int
    error_sleep: float
    junk_limit: int
    bare_newline: str  # "no", "normalize" or "reject"
    bare_newline_code: int
    bare_newline_exclusions: MatchList
    forbid_unauth_pipelining: bool
    peername_lookup: bool
    connection_limit: int  # smtpd_client_connection_count_limit (0 = none)
    limit_exceptions: MatchList
    xclient_hosts: MatchList
    smtputf8: bool
    strict_smtputf8: bool  # UTF-8 addresses only with SMTPUTF8 declared
    strict_rfc821: bool
    delay_reject: bool
    tls_level: str  # "none", "may" or "encrypt"
    tls_context: ssl.SSLContext | None
    tls_error: str | None  # why TLS is unavailable although requested
    tls_received_header: bool  # smtpd_tls_received_header: the TLS comment in Received

    @classmethod
    def from_config(cls, cfg: Config, tables: Any = None) -> SmtpdSettings:
        # values outside the registry's choices never get here: `affix check` (run at start
        # and reload) refuses them (config/params.py)
        mode = cfg.get("smtpd_forbid_bare_newline").strip().lower()
        level = tls_level(cfg)
        context, tls_err = (None, None)
        if level != "none":
            from affix.smtpd.tls import server_context

            context, tls_err = server_context(cfg)
        return cls(
            hostname=cfg.get("myhostname"), banner=cfg.get("smtpd_banner"),
            mail_name=cfg.get("mail_name"), syslog_name=cfg.get("syslog_name") or "postfix",
            helo_required=cfg.bool("smtpd_helo_required"),
            disable_vrfy=cfg.bool("disable_vrfy_command"),
            discard_keywords=frozenset(k.lower() for k in cfg.list("smtpd_discard_ehlo_keywords")),
            discard_maps=cfg.get("smtpd_discard_ehlo_keyword_address_maps"),
            timeout=cfg.time("smtpd_timeout"),
            per_request_deadline=cfg.bool("smtpd_per_request_deadline"),
            min_data_rate=cfg.int("smtpd_min_data_rate"),
            line_limit=max(cfg.int("line_length_limit"), 512),  # RFC 5321 4.5.3.1.4: 512
            size_limit=cfg.size("message_size_limit"),
            rcpt_limit=cfg.int("smtpd_recipient_limit"),
            overshoot_limit=cfg.int("smtpd_recipient_overshoot_limit"),
            soft_error_limit=cfg.int("smtpd_soft_error_limit"),
            hard_error_limit=cfg.int("smtpd_hard_error_limit"),
            error_sleep=cfg.time("smtpd_error_sleep_time"),
            junk_limit=cfg.int("smtpd_junk_command_limit"),
            bare_newline=_BARE_NEWLINE[mode],
            bare_newline_code=cfg.int("smtpd_forbid_bare_newline_reject_code"),
            bare_newline_exclusions=MatchList(cfg, "smtpd_forbid_bare_newline_exclusions",
                                              tables),
            forbid_unauth_pipelining=cfg.bool("smtpd_forbid_unauth_pipelining"),
            peername_lookup=cfg.bool("smtpd_peername_lookup"),
            connection_limit=cfg.int("smtpd_client_connection_count_limit"),
            limit_exceptions=MatchList(cfg, "smtpd_client_event_limit_exceptions", tables),
            xclient_hosts=MatchList(cfg, "smtpd_authorized_xclient_hosts", tables),
            smtputf8=cfg.bool("smtputf8_enable"),
            strict_smtputf8=cfg.bool("smtputf8_enable") and cfg.bool("strict_smtputf8"),
            strict_rfc821=cfg.bool("strict_rfc821_envelopes"),
            delay_reject=cfg.bool("smtpd_delay_reject"),
            tls_level=level, tls_context=context, tls_error=tls_err,
            tls_received_header=cfg.bool("smtpd_tls_received_header"),
        )


def tls_level(cfg: Config) -> str:
    """smtpd_tls_security_level, or its pre-2.3 spellings smtpd_enforce_tls / smtpd_use_tls."""
    level = cfg.get("smtpd_tls_security_level").strip().lower()
    if level:
        return level
    if cfg.bool("smtpd_enforce_tls"):
        return "encrypt"
    return "may" if cfg.bool("smtpd_use_tls") else "none"
