"""Postfix features affix does not have, by the parameters that turn them on.

Most Postfix parameters affix does not use are harmless leftovers (`biff = no`). These are
not: whoever sets them counts on something happening (mail scanned, handed to Dovecot,
relayed through a smarthost, the disk kept from filling up) that affix does not do. `affix
check`, the server's start and `affix lint` (AFX-CFG-007) warn about each one set in main.cf
or in a master.cf `-o` to anything but a value that asks for nothing (Postfix's default),
whatever else refers to it.
"""

from __future__ import annotations

_OUTBOUND = ("affix has no SMTP client yet: mail for other domains waits in the queue and "
             "returns to its sender after maximal_queue_lifetime")
_RATE = "no client rate limit is enforced"

# name -> (what does not happen, values that ask for nothing)
UNSUPPORTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "content_filter": ("mail is not handed to this content filter (no scan by it): it is "
                       "delivered as it arrives", ()),
    "smtpd_proxy_filter": ("mail is not passed through this before-queue filter", ()),
    "smtpd_milters": ("no milter runs: no DKIM signing, no milter spam or virus checks", ()),
    "non_smtpd_milters": ("no milter runs for local mail: no DKIM signing of it", ()),
    "mailbox_transport": ("local mail is not handed to this transport (e.g. Dovecot LMTP): "
                          "affix delivers it to mail_spool_directory or home_mailbox", ()),
    "mailbox_transport_maps": ("local mail is not handed to these transports: affix "
                               "delivers it to mail_spool_directory or home_mailbox", ()),
    "virtual_transport": ("virtual mailbox mail is not handed to this transport (e.g. "
                          "Dovecot LMTP): affix writes it below virtual_mailbox_base",
                          ("virtual",)),
    "relayhost": (_OUTBOUND, ()),
    "sender_dependent_relayhost_maps": (_OUTBOUND, ()),
    "transport_maps": ("no per-domain transport: local and virtual domains are delivered "
                       "here, " + _OUTBOUND, ()),
    "default_transport": (_OUTBOUND, ("smtp",)),
    "relay_transport": (_OUTBOUND, ("relay", "smtp")),
    "smtp_sasl_password_maps": (_OUTBOUND, ()),
    "always_bcc": ("no copy of each message goes to this address (no archive)", ()),
    "sender_bcc_maps": ("no copies go to these addresses", ()),
    "recipient_bcc_maps": ("no copies go to these addresses", ()),
    "canonical_maps": ("addresses are not rewritten", ()),
    "sender_canonical_maps": ("sender addresses are not rewritten", ()),
    "recipient_canonical_maps": ("recipient addresses are not rewritten", ()),
    "masquerade_domains": ("sender addresses are not masqueraded", ()),
    "smtpd_tls_wrappermode": ("no TLS at connect (port 465): the service speaks plain SMTP, "
                              "which clients expecting TLS cannot talk to", ("no",)),
    "queue_minfree": ("mail is not refused when the queue's file system runs low", ("0",)),
    "smtpd_client_connection_rate_limit": (_RATE, ("0",)),
    "smtpd_client_message_rate_limit": (_RATE, ("0",)),
    "smtpd_client_recipient_rate_limit": (_RATE, ("0",)),
    "smtpd_client_new_tls_session_rate_limit": (_RATE, ("0",)),
    "smtpd_client_auth_rate_limit": (_RATE, ("0",)),
}


def missing_feature(name: str, value: str) -> str | None:
    """What does not happen although `name = value` asks for it; None when nothing is lost
    (an unrelated parameter, or a value that asks for nothing)."""
    if name.startswith("postscreen_"):
        return "postscreen does not run: its tests do not happen"
    entry = UNSUPPORTED.get(name)
    if entry is None:
        return None
    what, nothing = entry
    value = value.strip()
    if not value or value.lower() in nothing:
        return None
    return what
