"""The EHLO keyword list: order, conditions and smtpd_discard_ehlo_keywords (smtp-and-logs.md §1).
"""

from __future__ import annotations

from affix.smtpd.settings import SmtpdSettings

# What this server understands in XCLIENT (Postfix XCLIENT_README).
XCLIENT_ATTRS = "NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT"


def ehlo_keywords(s: SmtpdSettings, discard: frozenset[str], offer_tls: bool,
                  xclient: bool) -> list[str]:
    """The lines after the host name, in Postfix's order, minus the discarded ones."""
    items: list[tuple[str, str]] = [
        ("pipelining", "PIPELINING"),
        ("size", f"SIZE {s.size_limit}" if s.size_limit else "SIZE"),
    ]
    if not s.disable_vrfy:
        items.append(("vrfy", "VRFY"))
    items.append(("etrn", "ETRN"))
    if offer_tls:
        items.append(("starttls", "STARTTLS"))
    # AUTH (items 7-8) appears once SASL is implemented; XVERP is not implemented.
    if xclient:
        items.append(("xclient", f"XCLIENT {XCLIENT_ATTRS}"))
    items += [("enhancedstatuscodes", "ENHANCEDSTATUSCODES"), ("8bitmime", "8BITMIME"),
              ("dsn", "DSN")]
    if s.smtputf8:
        items.append(("smtputf8", "SMTPUTF8"))
    items.append(("chunking", "CHUNKING"))
    return [text for key, text in items if key not in discard]


def discarded_names(discard: frozenset[str]) -> str:
    """The discarded keywords as logged: `discarding EHLO keywords: PIPELINING SIZE`."""
    order = ("pipelining", "size", "vrfy", "etrn", "starttls", "auth", "xverp", "xclient",
             "xforward", "enhancedstatuscodes", "8bitmime", "dsn", "smtputf8", "chunking")
    return " ".join(k.upper() for k in order if k in discard)
