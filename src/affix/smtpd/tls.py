"""The server-side TLS context for STARTTLS (RFC 3207), built from the smtpd_tls_* files."""

from __future__ import annotations

import ssl

from affix.config.snapshot import Config


def server_context(cfg: Config) -> tuple[ssl.SSLContext | None, str | None]:
    """(context, None), or (None, reason) when no usable certificate is configured.

    Like Postfix, a missing or broken certificate does not stop smtpd: STARTTLS is simply not
    offered (level may), or answered with 454 (level encrypt), and the reason is logged.
    """
    chain = cfg.list("smtpd_tls_chain_files")
    cert = cfg.get("smtpd_tls_cert_file").strip()
    key = cfg.get("smtpd_tls_key_file").strip() or cert
    if chain:
        cert, key = chain[0], chain[0]
    if not cert:
        return None, "no server certificate configured (smtpd_tls_cert_file)"
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.verify_mode = ssl.CERT_NONE  # clients are not asked for certificates (Postfix default)
    try:
        ctx.load_cert_chain(cert, key)
        for extra in chain[1:]:
            ctx.load_cert_chain(extra)
    except (OSError, ssl.SSLError) as e:
        return None, f"cannot load certificate {cert} / key {key}: {e}"
    return ctx, None
