"""The registry: every parameter affix knows, with its type, default and a one-line doc.

This is the only place a default lives. Defaults are Postfix 3.7's (as `postconf -d` prints
them, raw), except where `affix` notes why affix differs; docs/parameters.md is generated from
this table (`affix conf -d` prints it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from affix import __version__


class Kind(Enum):
    STR = "string"
    BOOL = "boolean"
    INT = "integer"
    SIZE = "size"  # bytes, plain integer in Postfix syntax
    TIME = "time"  # integer with optional s/m/h/d/w unit
    LIST = "list"  # separated by commas and/or whitespace, `{}` groups
    MAPS = "maps"  # list of type:name table references
    RESTRICTIONS = "restrictions"  # an smtpd restriction list


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    default: str
    doc: str
    unit: str = "s"  # default unit of a TIME parameter
    affix: str = ""  # why affix's default or meaning differs from Postfix 3.7 ("" = same)
    raw: bool = False  # expanded later with per-event variables, not at start (config.md §2)
    # the only values allowed (case-insensitive; for a LIST, each element): a typo must stop
    # `affix check` rather than quietly mean something else (a bad mynetworks_style once
    # meant "subnet", trusting the whole local network)
    choices: tuple[str, ...] = ()
    minimum: int | None = None  # the least an INT may be


def _p(name: str, kind: Kind, default: str, doc: str, **kw: object) -> Param:
    return Param(name, kind, default, doc, **kw)  # type: ignore[arg-type]


S, B, I, Z, T, L, M, R = (  # noqa: E741 - short names keep the table readable
    Kind.STR, Kind.BOOL, Kind.INT, Kind.SIZE, Kind.TIME, Kind.LIST, Kind.MAPS, Kind.RESTRICTIONS,
)

_LEVEL2 = "${{$compatibility_level} <level {2} ? {%s} : {%s}}"
_LEVEL1 = "${{$compatibility_level} <level {1} ? {%s} : {%s}}"
_LEVEL36 = "${{$compatibility_level} <level {3.6} ? {%s} : {%s}}"

_ALL: tuple[Param, ...] = (
    # --- identity and compatibility -------------------------------------------------------
    _p("compatibility_level", S, "0", "Which release's safer defaults apply (3.7 recommended)."),
    _p("config_directory", S, "/etc/affix", "Directory holding main.cf and master.cf.",
       affix="affix looks in /etc/affix (Postfix: /etc/postfix); -c DIR selects another."),
    _p("myhostname", S, "", "This host's fully-qualified name; computed from the system "
       "hostname when empty."),
    _p("mydomain", S, "", "This host's domain: $myhostname minus its first label."),
    _p("myorigin", S, "$myhostname", "Domain appended to unqualified sender addresses."),
    _p("mydestination", L, "$myhostname, localhost.$mydomain, localhost",
       "Domains delivered locally."),
    _p("mynetworks", L, "", "Trusted client networks; computed from mynetworks_style when empty."),
    _p("mynetworks_style", S, _LEVEL2 % ("subnet", "host"),
       "How mynetworks is computed: host, subnet or class.",
       choices=("host", "subnet", "class")),
    _p("inet_interfaces", L, "all", "Addresses the server listens on."),
    _p("inet_protocols", L, "all", "IP versions used: all, ipv4, ipv6.",
       choices=("all", "ipv4", "ipv6")),
    _p("proxy_interfaces", L, "", "Addresses of a proxy or NAT in front of this server; "
       "mail to them counts as local."),
    _p("relay_domains", L, _LEVEL2 % ("$mydestination", ""),
       "Domains this server relays mail to."),
    _p("relayhost", S, "", "Next hop for non-local mail; empty means direct MX delivery."),
    _p("mail_name", S, "affix", "The software name shown in the greeting and Received header.",
       affix="Postfix 3.7: Postfix; the greeting names the software that answers."),
    _p("mail_version", S, __version__, "The software version.", affix="affix's own version."),
    _p("syslog_name", S, "${multi_instance_name?{$multi_instance_name}:{postfix}}",
       "Name prefixed to every mail log line (kept as Postfix's so log tools work); set "
       "`syslog_name = affix` in main.cf (or `-o syslog_name=...` per service) to change it."),
    _p("multi_instance_name", S, "", "Name of this instance."),
    _p("syslog_facility", S, "mail", "Syslog facility for the mail log."),
    _p("maillog_file", S, "", "File the mail log is written to; when empty, DATA_DIR/maillog "
       "(stderr with start-fg).",
       affix="Postfix logs to syslog when this is empty; affix to DATA_DIR/maillog "
             "(affix_syslog = yes sends it to syslog too)."),
    _p("affix_syslog", B, "no", "Also send the mail log to the local syslog socket.",
       affix="affix-only parameter."),
    _p("queue_directory", S, "/var/spool/affix", "Directory of the mail queue.",
       affix="affix's own spool (Postfix: /var/spool/postfix)."),
    _p("data_directory", S, "/var/lib/affix", "Directory for the pid file and caches.",
       affix="affix keeps its pid file here."),
    _p("affix_stop_grace_time", T, "30s", "How long `affix stop` lets open SMTP sessions finish.",
       affix="affix-only parameter."),
    _p("affix_workers", I, "1", "Processes that serve SMTP. 1: one process does everything. "
       "N > 1: N worker processes share the listening ports (SO_REUSEPORT) and the queue "
       "directory; the master process delivers what they accept while it keeps up (each "
       "worker delivers its own while the master is behind), retries deferred mail and takes "
       "over the messages of a worker that dies. Concurrency limits hold per process. Each "
       "worker costs about 30 MB. 0: one worker per CPU core. Read at start.",
       affix="affix-only parameter (Postfix runs one process per session, up to "
       "default_process_limit).", minimum=0),
    _p("affix_dns_servers", L, "", "DNS resolvers (address or [address]:port) used instead of "
       "/etc/resolv.conf.", affix="affix-only parameter: point DNSBL queries at a local resolver."),
    _p("affix_dns_timeout", T, "5s", "Timeout of one DNS query.", affix="affix-only parameter."),
    _p("parent_domain_matches_subdomains", L,
       "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,"
       "qmqpd_authorized_clients,relay_domains,smtpd_access_maps",
       "Features where `domain` also matches its subdomains."),
    _p("append_dot_mydomain", B, _LEVEL1 % ("yes", "no"),
       "Append .$mydomain to user@host addresses."),
    _p("recipient_delimiter", S, "", "Separator between user name and extension (user+ext)."),
    _p("default_database_type", S, "hash", "Table type used when a command names no type."),
    _p("soft_bounce", B, "no", "Turn permanent errors (5xx) into temporary ones (4xx)."),
    _p("smtputf8_enable", B, _LEVEL1 % ("no", "yes"), "Support SMTPUTF8 (RFC 6531)."),
    _p("strict_smtputf8", B, "no", "Refuse UTF-8 addresses in a transaction that did not ask "
       "for SMTPUTF8 (553 5.6.7)."),
    _p("strict_rfc821_envelopes", B, "no", "Require <> around MAIL/RCPT addresses."),
    _p("allow_untrusted_routing", B, "no", "Allow source-routed addresses through access OK."),
    _p("swap_bangpath", B, "yes", "Rewrite site!user into user@site."),
    _p("allow_percent_hack", B, "yes", "Rewrite user%domain into user@domain."),
    _p("show_user_unknown_table_name", B, "yes", "Name the table in User unknown replies."),
    _p("delay_logging_resolution_limit", I, "2", "Decimals in delay= log fields."),
    _p("respectful_logging", B, _LEVEL36 % ("no", "yes"), "Avoid words like master/slave."),
    # --- master.cf defaults ----------------------------------------------------------------
    _p("default_process_limit", I, "100", "Default maxproc of master.cf services.", minimum=1),
    _p("max_idle", T, "100s", "Idle time before a daemon process exits."),
    _p("max_use", I, "100", "Clients a daemon process serves before it exits."),
    # --- smtpd: dialog ---------------------------------------------------------------------
    _p("smtpd_banner", S, "$myhostname ESMTP $mail_name", "Text after 220 in the greeting."),
    _p("smtpd_helo_required", B, "no", "Require HELO/EHLO before MAIL."),
    _p("disable_vrfy_command", B, "no", "Disable VRFY (EXPN is never implemented)."),
    _p("smtpd_discard_ehlo_keywords", L, "", "EHLO keywords not announced."),
    _p("smtpd_discard_ehlo_keyword_address_maps", M, "", "Per-client EHLO keywords to discard."),
    _p("smtpd_timeout", T, "${stress?{10}:{300}}s", "Timeout of one read or write."),
    _p("smtpd_per_request_deadline", B,
       "${smtpd_per_record_deadline?{$smtpd_per_record_deadline}:{yes}}",
       "Make smtpd_timeout a deadline for a whole request, not for each read.",
       affix="Postfix's default is no (yes under stress); yes protects against slowloris "
       "clients. The old name smtpd_per_record_deadline still takes precedence when set."),
    _p("smtpd_per_record_deadline", S, "", "Old name of smtpd_per_request_deadline."),
    _p("smtpd_min_data_rate", I, "500", "Minimum bytes/s during DATA with a per-request "
       "deadline."),
    _p("line_length_limit", I, "2048", "Longest command line or content line chunk.",
       minimum=1),
    _p("header_size_limit", Z, "102400", "Longest logical header."),
    _p("message_size_limit", Z, "10240000", "Largest message (0 = unlimited)."),
    _p("smtpd_recipient_limit", I, "1000", "Recipients accepted per message."),
    _p("smtpd_recipient_overshoot_limit", I, "1000", "Extra RCPTs not counted as errors."),
    _p("smtpd_soft_error_limit", I, "10", "Errors after which each reply is delayed."),
    _p("smtpd_hard_error_limit", I, "${stress?{1}:{20}}", "Errors after which the session ends."),
    _p("smtpd_error_sleep_time", T, "1s", "Delay added per reply beyond the soft limit."),
    _p("smtpd_junk_command_limit", I, "${stress?{1}:{100}}",
       "HELO/NOOP/RSET/VRFY/ETRN beyond this count as errors."),
    _p("smtpd_forbid_bare_newline", S, "normalize",
       "Bare LF handling: no, normalize (yes), reject.",
       choices=("no", "normalize", "yes", "reject"),
       affix="Postfix 3.9's default (3.7: no), against SMTP smuggling."),
    _p("smtpd_forbid_bare_newline_reject_code", I, "550", "Reply code for a rejected bare LF."),
    _p("smtpd_forbid_bare_newline_exclusions", L, "$mynetworks",
       "Clients exempt from smtpd_forbid_bare_newline."),
    _p("smtpd_forbid_unauth_pipelining", B, "yes",
       "Disconnect clients that pipeline without PIPELINING.",
       affix="Postfix 3.9's default (3.7: no), against SMTP smuggling."),
    _p("smtpd_delay_open_until_valid_rcpt", B, "yes", "Assign the queue id at the first "
       "accepted RCPT."),
    _p("smtpd_peername_lookup", B, "yes", "Look up the client's hostname."),
    _p("smtpd_client_connection_count_limit", I, "50", "Connections one client may hold."),
    _p("smtpd_client_event_limit_exceptions",
       L, "${smtpd_client_connection_limit_exceptions:$mynetworks}",
       "Clients exempt from the connection count and rate limits."),
    _p("smtpd_client_connection_limit_exceptions", L, "",
       "Old name of smtpd_client_event_limit_exceptions."),
    _p("smtpd_authorized_xclient_hosts", L, "", "Clients allowed to use XCLIENT."),
    _p("smtpd_authorized_verp_clients", L, "$authorized_verp_clients",
       "Clients allowed to use XVERP."),
    _p("authorized_verp_clients", L, "$mynetworks", "Old name of smtpd_authorized_verp_clients."),
    _p("smtpd_tls_security_level", S, "", "TLS: empty/none, may or encrypt.",
       choices=("", "none", "may", "encrypt")),
    _p("smtpd_use_tls", B, "no", "Old form of smtpd_tls_security_level = may."),
    _p("smtpd_enforce_tls", B, "no", "Old form of smtpd_tls_security_level = encrypt."),
    _p("smtpd_tls_cert_file", S, "", "Server certificate (PEM)."),
    _p("smtpd_tls_key_file", S, "$smtpd_tls_cert_file", "Server private key (PEM)."),
    _p("smtpd_tls_chain_files", L, "", "Key and certificate chain files."),
    _p("smtpd_tls_auth_only", B, "no", "Offer AUTH only after STARTTLS."),
    _p("smtpd_tls_received_header", B, "no", "Record TLS details in the Received header."),
    _p("smtpd_tls_fingerprint_digest", S, _LEVEL36 % ("md5", "sha256"),
       "Digest of client certificate fingerprints."),
    _p("smtpd_sasl_auth_enable", B, "no", "Offer SMTP AUTH."),
    _p("smtpd_sasl_exceptions_networks", L, "", "Clients not offered AUTH."),
    _p("broken_sasl_auth_clients", B, "no", "Also announce AUTH=MECH for old clients."),
    _p("smtpd_sasl_authenticated_header", B, "no", "Name the SASL user in Received."),
    _p("smtpd_reject_footer", S, "", "Text appended to 4xx/5xx replies.", raw=True),
    _p("smtpd_expansion_filter", S,
       "\\t\\40!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_"
       "`abcdefghijklmnopqrstuvwxyz{|}~",
       "Characters allowed in $name expansions of reply templates.", raw=True),
    _p("smtpd_log_access_permit_actions", L, "", "Access actions that log a permit line."),
    _p("smtpd_null_access_lookup_key", S, "<>", "Lookup key for the null sender."),
    # --- smtpd: restrictions --------------------------------------------------------------
    _p("smtpd_delay_reject", B, "yes", "Apply client/helo/sender restrictions at RCPT."),
    _p("smtpd_client_restrictions", R, "", "Restrictions on the client host."),
    _p("smtpd_helo_restrictions", R, "", "Restrictions on the HELO/EHLO name."),
    _p("smtpd_sender_restrictions", R, "", "Restrictions on the MAIL FROM address."),
    _p("smtpd_relay_restrictions", R,
       _LEVEL1 % ("", "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"),
       "Relay control at RCPT, before smtpd_recipient_restrictions."),
    _p("smtpd_recipient_restrictions", R, "", "Restrictions on the RCPT TO address."),
    _p("smtpd_data_restrictions", R, "", "Restrictions on DATA."),
    _p("smtpd_end_of_data_restrictions", R, "", "Restrictions after the end of data."),
    _p("smtpd_etrn_restrictions", R, "", "Restrictions on ETRN."),
    _p("smtpd_restriction_classes", L, "", "Names of parameters holding restriction lists."),
    _p("smtpd_relay_before_recipient_restrictions", B, _LEVEL36 % ("no", "yes"),
       "Evaluate the relay list before the recipient list."),
    _p("smtpd_reject_unlisted_recipient", B, "yes", "Reject unknown recipients at RCPT."),
    _p("smtpd_reject_unlisted_sender", B, "no", "Reject unknown local senders at MAIL."),
    _p("smtpd_policy_service_timeout", T, "100s", "Policy service request timeout."),
    _p("smtpd_policy_service_max_idle", T, "300s", "Idle time before a policy connection "
       "closes."),
    _p("smtpd_policy_service_default_action", S, "451 4.3.5 Server configuration problem",
       "Reply when the policy service fails."),
    _p("smtpd_policy_service_request_limit", I, "0",
       "Requests per policy connection before it is reopened (0: no limit)."),
    _p("smtpd_policy_service_try_limit", I, "2", "Attempts to ask a policy server."),
    _p("smtpd_policy_service_retry_delay", T, "1s", "Delay between policy server attempts."),
    _p("smtpd_policy_service_policy_context", S, "",
       "policy_context attribute sent to policy servers."),
    _p("maps_rbl_domains", L, "", "Zones for the obsolete reject_maps_rbl."),
    _p("default_rbl_reply", S,
       "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using "
       "$rbl_domain${rbl_reason?; $rbl_reason}",
       "Reply template of DNSBL/RHSBL rejects.", raw=True),
    _p("rbl_reply_maps", M, "", "Per-zone reply templates."),
    _p("reject_tempfail_action", S, "defer_if_permit", "Action on a temporary lookup failure."),
    _p("unknown_helo_hostname_tempfail_action", S, "$reject_tempfail_action",
       "Action when the HELO lookup fails temporarily."),
    _p("unknown_address_tempfail_action", S, "$reject_tempfail_action",
       "Action when a sender/recipient domain lookup fails temporarily."),
    _p("unknown_client_hostname_tempfail_action", S, "$reject_tempfail_action",
       "Action when the client name lookup fails temporarily.",
       affix="affix-only parameter (Postfix 3.7 uses reject_tempfail_action there)."),
    _p("unverified_sender_tempfail_action", S, "$reject_tempfail_action", "Verify tempfail."),
    _p("unverified_recipient_tempfail_action", S, "$reject_tempfail_action",
       "Action when recipient verification fails temporarily."),
    # --- reply codes ----------------------------------------------------------------------
    _p("access_map_reject_code", I, "554", "Code of an access table REJECT."),
    _p("access_map_defer_code", I, "450", "Code of an access table DEFER."),
    _p("reject_code", I, "554", "Code of `reject`."),
    _p("defer_code", I, "450", "Code of `defer`."),
    _p("maps_rbl_reject_code", I, "554", "Code of DNSBL rejects ($rbl_code)."),
    _p("relay_domains_reject_code", I, "554", "Code of reject_unauth_destination."),
    _p("unknown_client_reject_code", I, "450", "Code of reject_unknown_client_hostname."),
    _p("unknown_hostname_reject_code", I, "450", "Code of reject_unknown_helo_hostname."),
    _p("unknown_address_reject_code", I, "450", "Code of reject_unknown_*_domain."),
    _p("invalid_hostname_reject_code", I, "501", "Code of reject_invalid_helo_hostname."),
    _p("non_fqdn_reject_code", I, "504", "Code of reject_non_fqdn_*."),
    _p("unknown_local_recipient_reject_code", I, "550", "Code for an unknown local user."),
    _p("unknown_relay_recipient_reject_code", I, "550", "Code for an unknown relay user."),
    _p("unknown_virtual_alias_reject_code", I, "550", "Code for an unknown virtual alias."),
    _p("unknown_virtual_mailbox_reject_code", I, "550", "Code for an unknown virtual user."),
    _p("multi_recipient_bounce_reject_code", I, "550", "Code of "
       "reject_multi_recipient_bounce."),
    _p("plaintext_reject_code", I, "450", "Code of reject_plaintext_session."),
    _p("unverified_sender_reject_code", I, "450", "Code of a failed sender verification."),
    _p("unverified_recipient_reject_code", I, "450", "Code of a failed recipient verification."),
    _p("unverified_sender_defer_code", I, "450", "Code when sender verification is pending."),
    _p("unverified_recipient_defer_code", I, "450",
       "Code when recipient verification is pending."),
    # --- local recipients, aliases, virtual -------------------------------------------------
    _p("local_recipient_maps", M, "proxy:unix:passwd.byname $alias_maps",
       "Tables of known local users (empty: accept any)."),
    _p("alias_maps", M, "hash:/etc/aliases, nis:mail.aliases", "Alias tables."),
    _p("alias_database", M, "hash:/etc/aliases", "Alias tables built by newaliases."),
    _p("virtual_maps", M, "", "Old name of virtual_alias_maps."),
    _p("virtual_alias_maps", M, "$virtual_maps", "Address rewriting for any domain."),
    _p("virtual_alias_domains", L, "$virtual_alias_maps", "Virtual alias domains."),
    _p("virtual_alias_recursion_limit", I, "1000",
       "Deepest nesting of virtual_alias_maps results looked up again."),
    _p("virtual_alias_expansion_limit", I, "1000",
       "Most addresses one recipient may expand into through virtual_alias_maps."),
    _p("propagate_unmatched_extensions", L, "canonical, virtual",
       "Rewrites that carry over an address extension (user+ext) their table did not match."),
    _p("virtual_mailbox_domains", L, "$virtual_mailbox_maps", "Virtual mailbox domains."),
    _p("virtual_mailbox_maps", M, "", "Virtual mailbox paths per address."),
    _p("virtual_mailbox_base", S, "", "Prefix of virtual mailbox paths."),
    _p("virtual_mailbox_limit", Z, "51200000", "Largest virtual mailbox file."),
    _p("relay_recipient_maps", M, "", "Valid recipients in relay_domains."),
    # --- cleanup ---------------------------------------------------------------------------
    _p("header_checks", M, "", "Patterns applied to message headers."),
    _p("mime_header_checks", M, "$header_checks", "Patterns applied to MIME headers."),
    _p("nested_header_checks", M, "$header_checks", "Patterns for attached message headers."),
    _p("body_checks", M, "", "Patterns applied to body lines."),
    _p("body_checks_size_limit", Z, "51200", "Bytes per body part inspected."),
    _p("hopcount_limit", I, "50", "Received headers after which mail is rejected as a loop."),
    _p("always_add_missing_headers", B, "no", "Add missing From/Date/Message-Id to SMTP mail."),
    _p("local_header_rewrite_clients", L, "permit_inet_interfaces",
       "SMTP clients whose mail gets missing headers added and bare names qualified, as "
       "local submissions do."),
    _p("receive_override_options", L, "", "Turn off checks (no_header_body_checks, ...)."),
    _p("enable_original_recipient", B, "yes", "Record the original recipient."),
    _p("message_drop_headers", L, "bcc, content-length, resent-bcc, return-path",
       "Headers cleanup removes from every message."),
    _p("mime_nesting_limit", I, "100", "Deepest MIME/attached-message nesting inspected."),
    _p("disable_mime_input_processing", B, "no",
       "Treat everything after the primary headers as body (no MIME parsing)."),
    _p("internal_mail_filter_classes", L, "",
       "Mail made by affix that content checks apply to (bounce, notify)."),
    # --- queue -----------------------------------------------------------------------------
    _p("enable_long_queue_ids", B, "no", "Use long, non-repeating queue ids."),
    _p("maximal_queue_lifetime", T, "5d", "Time a message may stay deferred.", unit="d"),
    _p("bounce_queue_lifetime", T, "5d", "Time a bounce may stay deferred.", unit="d"),
    _p("minimal_backoff_time", T, "300s", "Shortest retry interval."),
    _p("maximal_backoff_time", T, "4000s", "Longest retry interval."),
    _p("queue_run_delay", T, "300s", "Interval between deferred queue scans."),
    _p("delay_warning_time", T, "0h", "Send a delay notice after this time (0: never).",
       unit="h"),
    _p("queue_minfree", Z, "0", "Free bytes the queue file system must keep."),
    _p("default_destination_concurrency_limit", I, "20", "Parallel deliveries per destination."),
    _p("local_destination_concurrency_limit", I, "2", "Parallel local deliveries per user."),
    _p("content_filter", S, "", "Transport that receives all mail first."),
    _p("bounce_size_limit", Z, "50000", "Largest original message returned whole in a bounce."),
    _p("notify_classes", L, "resource, software", "Problems reported to the postmaster."),
    _p("bounce_notice_recipient", S, "postmaster", "Recipient of `bounce` class notices."),
    _p("2bounce_notice_recipient", S, "postmaster", "Recipient of undeliverable bounces."),
    _p("delay_notice_recipient", S, "postmaster", "Recipient of `delay` class notices."),
    _p("affix_incoming_poll_time", T, "1s", "How often the queue manager looks for new mail "
       "that no wake-up announced (e.g. from `affix sendmail` in another process).",
       affix="affix-only parameter (Postfix's pickup and cleanup signal qmgr over a FIFO)."),
    _p("fast_flush_domains", L, "$relay_domains", "Domains whose mail a client may ask to be "
       "delivered now with ETRN (others get 459).",
       affix="ETRN for an allowed domain retries the whole deferred queue at once (there are "
       "no per-destination flush logs)."),
    # --- local delivery --------------------------------------------------------------------
    _p("home_mailbox", S, "", "Mailbox path relative to home; ending in / means Maildir."),
    _p("mail_spool_directory", S, "/var/mail", "Directory of mbox spool files."),
    _p("mailbox_size_limit", Z, "51200000", "Largest mailbox file (0 = unlimited)."),
    _p("mailbox_command", S, "", "Program that delivers to mailboxes.", raw=True),
    _p("mailbox_transport", S, "", "Transport for mailbox delivery."),
    _p("mailbox_delivery_lock", L, "fcntl, dotlock", "Locks used for mbox delivery."),
    _p("deliver_lock_attempts", I, "20", "Attempts to take a mailbox lock."),
    _p("deliver_lock_delay", T, "1s", "Delay between lock attempts."),
    _p("stale_lock_time", T, "500s", "Age after which a dotlock is removed."),
    _p("strict_mailbox_ownership", B, "yes", "Defer when an mbox is not the user's."),
    _p("forward_path", L, "$home/.forward${recipient_delimiter}${extension}, $home/.forward",
       ".forward files searched.", raw=True),
    _p("allow_mail_to_commands", L, "alias, forward", "Where |command deliveries are allowed."),
    _p("allow_mail_to_files", L, "alias, forward", "Where /file deliveries are allowed."),
    _p("default_privs", S, "nobody", "User for deliveries from root-owned aliases."),
    _p("luser_relay", S, "", "Destination for unknown local users.", raw=True),
    _p("prepend_delivered_header", L, "command, file, forward", "Where Delivered-To is added."),
    _p("owner_request_special", B, "yes", "Treat owner-x aliases specially."),
    _p("command_time_limit", T, "1000s", "Longest run of a |command delivery."),
    _p("local_command_shell", S, "", "Shell for |command deliveries; empty means /bin/sh -c."),
    _p("virtual_uid_maps", M, "", "Owner (uid) of virtual mailboxes, per address."),
    _p("virtual_gid_maps", M, "", "Group (gid) of virtual mailboxes, per address."),
    _p("virtual_minimum_uid", I, "100", "Smallest uid virtual_uid_maps may give."),
    # --- SMTP client -----------------------------------------------------------------------
    _p("smtp_helo_name", S, "$myhostname", "Name the outbound SMTP client sends in HELO."),
    _p("smtp_connect_timeout", T, "30s", "Outbound connection timeout."),
    _p("smtp_header_checks", M, "", "Header patterns applied by the SMTP client."),
    _p("smtp_fallback_relay", L, "$fallback_relay", "Relays tried when direct delivery fails."),
    _p("fallback_relay", L, "", "Old name of smtp_fallback_relay."),
    _p("smtp_tls_fingerprint_digest", S, _LEVEL36 % ("md5", "sha256"),
       "Digest of server certificate fingerprints."),
    # --- set by the server itself ------------------------------------------------------------
    _p("service_name", S, "", "Set per master.cf service to its name (e.g. submission), so "
       "`-o syslog_name=postfix/$service_name` works."),
    _p("stress", S, "", "Set to yes by the server under overload; stress-dependent defaults "
       "(smtpd_timeout, error limits) follow it. Leave empty."),
)

PARAMS: dict[str, Param] = {p.name: p for p in _ALL}

# Old spellings still honoured: old name -> current name (config.md §5).
RENAMED: dict[str, str] = {
    "virtual_maps": "virtual_alias_maps",
    "authorized_verp_clients": "smtpd_authorized_verp_clients",
    "fallback_relay": "smtp_fallback_relay",
    "smtpd_client_connection_limit_exceptions": "smtpd_client_event_limit_exceptions",
    "smtpd_per_record_deadline": "smtpd_per_request_deadline",
}
