"""The `Received:` header smtpd puts on top of each message (smtp-and-logs.md §2)."""

from __future__ import annotations

from affix.cleanup.headers import rfc2822_date


def with_protocol(protocol: str, tls: bool, auth: bool, smtputf8: bool) -> str:
    """RFC 3848 / RFC 6531 `with` keyword: ESMTP[S][A], UTF8SMTP[S][A]; plain SMTP after HELO."""
    if protocol != "ESMTP":
        return protocol
    base = "UTF8SMTP" if smtputf8 else "ESMTP"
    return base + ("S" if tls else "") + ("A" if auth else "")


def received_header(helo: str | None, name: str, addr: str, hostname: str, mail_name: str,
                    protocol: str, queue_id: str, recipients: list[str], when: float,
                    tls: tuple[str, str, int] | None = None) -> str:
    """The header with LF line ends and a trailing LF; `for <RCPT>` only with one recipient.
    tls: (protocol, cipher, bits) for smtpd_tls_received_header's comment lines."""
    literal = f"IPv6:{addr}" if ":" in addr else addr
    first = f"Received: from {helo or name} ({name} [{literal}])"
    if tls is not None:
        version, cipher, bits = tls
        first += (f"\n\t(using {version} with cipher {cipher} ({bits}/{bits} bits))"
                  "\n\t(No client certificate requested)")
    by = f"\tby {hostname} ({mail_name}) with {protocol} id {queue_id}"
    date = rfc2822_date(when)
    if len(recipients) == 1:
        return f"{first}\n{by}\n\tfor <{recipients[0]}>; {date}\n"
    return f"{first}\n{by};\n\t{date}\n"
