"""Every reply the SMTP protocol layer sends: the whole vocabulary in one place.

Codes and texts follow Postfix 3.7's smtpd (smtp-and-logs.md §1-2). Replies to restriction
rejects come from the restriction engine, not from here. Replies without an enhanced status
code are intentional: Postfix sends them that way (HELO/EHLO syntax, ETRN).
"""

from __future__ import annotations

import functools

from affix.reply import Reply

# --- success ---------------------------------------------------------------------------------
OK = Reply(250, "2.0.0", "Ok")  # RSET, NOOP
MAIL_OK = Reply(250, "2.1.0", "Ok")
RCPT_OK = Reply(250, "2.1.5", "Ok")
START_DATA = Reply(354, None, "End data with <CR><LF>.<CR><LF>")
BYE = Reply(221, "2.0.0", "Bye")
READY_TLS = Reply(220, "2.0.0", "Ready to start TLS")
ETRN_STARTED = Reply(250, None, "Queuing started")


# The greeting and the HELO and EHLO replies are the same for every session of a service (the
# EHLO one for each set of keywords): one Reply each, so that its wire form is made once.
@functools.lru_cache(maxsize=16)
def greeting(banner: str) -> Reply:
    return Reply(220, None, banner)


@functools.lru_cache(maxsize=16)
def helo(hostname: str) -> Reply:
    return Reply(250, None, hostname)


@functools.lru_cache(maxsize=16)
def ehlo(hostname: str, keywords: tuple[str, ...]) -> Reply:
    """Multi-line: the host name, then one keyword per line (RFC 5321 4.1.1.1)."""
    return Reply(250, None, "\n".join([hostname, *keywords]))


def bdat_chunk_ok(size: int) -> Reply:
    return Reply(250, "2.0.0", f"Ok: {size} bytes")


def bdat_last(size: int, reply: Reply) -> Reply:
    """cleanup's `250 2.0.0 Ok: queued as ID` after BDAT LAST names the message's size, as
    Postfix's does (`Ok: 18 bytes queued as ID`); any other reply is left as it is."""
    if reply.code != 250 or not reply.text.startswith("Ok: queued as "):
        return reply
    return Reply(250, reply.dsn, f"Ok: {size} bytes {reply.text[4:]}")


def vrfy_ok(arg: str) -> Reply:
    """RFC 5321 3.5.3: 252 means "cannot verify, but will accept"; ARG as sent."""
    return Reply(252, "2.0.0", arg)


# --- syntax ----------------------------------------------------------------------------------
BAD_SYNTAX = Reply(500, "5.5.2", "Error: bad syntax")
BAD_UTF8 = Reply(500, "5.5.2", "Error: bad UTF-8 syntax")
UNKNOWN_COMMAND = Reply(500, "5.5.2", "Error: command not recognized")
HELO_SYNTAX = Reply(501, None, "Syntax: HELO hostname")
EHLO_SYNTAX = Reply(501, None, "Syntax: EHLO hostname")
MAIL_SYNTAX = Reply(501, "5.5.4", "Syntax: MAIL FROM:<address>")
RCPT_SYNTAX = Reply(501, "5.5.4", "Syntax: RCPT TO:<address>")
DATA_SYNTAX = Reply(501, "5.5.4", "Syntax: DATA")
RSET_SYNTAX = Reply(501, "5.5.4", "Syntax: RSET")
STARTTLS_SYNTAX = Reply(501, "5.5.4", "Syntax: STARTTLS")
BDAT_SYNTAX = Reply(501, "5.5.4", "Syntax: BDAT count [LAST]")
BDAT_COUNT_SYNTAX = Reply(521, "5.5.4", "Syntax: BDAT count [LAST]")  # unknown size: hang up
ETRN_SYNTAX = Reply(500, None, "Syntax: ETRN domain")
ETRN_BAD_DOMAIN = Reply(501, None, "Error: invalid parameter syntax")
BAD_SENDER = Reply(501, "5.1.7", "Bad sender address syntax")
BAD_RECIPIENT = Reply(501, "5.1.3", "Bad recipient address syntax")
BAD_SIZE = Reply(501, "5.5.4", "Bad message size syntax")
BAD_RET = Reply(501, "5.5.4", "Bad RET parameter syntax")
BAD_ENVID = Reply(501, "5.5.4", "Bad ENVID parameter syntax")
BAD_NOTIFY = Reply(501, "5.5.4", "Error: Bad NOTIFY parameter syntax")
BAD_ORCPT = Reply(501, "5.5.4", "Error: Bad ORCPT parameter syntax")
DSN_DISABLED = Reply(501, "5.7.1", "DSN support is disabled")
UTF8_UNDECLARED = Reply(553, "5.6.7", "Must declare SMTPUTF8 to send unicode address")
XCLIENT_SYNTAX = Reply(501, "5.5.4", "Syntax: XCLIENT attribute=value...")
XCLIENT_PAIR = Reply(501, "5.5.4", "Error: attribute=value expected")


def vrfy_syntax(smtputf8: bool) -> Reply:
    return Reply(501, "5.5.4", "Syntax: VRFY address" + (" [SMTPUTF8]" if smtputf8 else ""))


def unsupported_option(param: str) -> Reply:
    return Reply(555, "5.5.4", f"Unsupported option: {param}")


def xclient_bad_name(name: str) -> Reply:
    return Reply(501, "5.5.4", f"Bad XCLIENT attribute name: {name}")


def xclient_bad_value(name: str, value: str) -> Reply:
    return Reply(501, "5.5.4", f"Bad {name} syntax in XCLIENT command: {value}")


# --- sequence --------------------------------------------------------------------------------
NEED_HELO = Reply(503, "5.5.1", "Error: send HELO/EHLO first")
ETRN_NEED_HELO = Reply(503, None, "Error: send HELO/EHLO first")
NESTED_MAIL = Reply(503, "5.5.1", "Error: nested MAIL command")
NEED_MAIL = Reply(503, "5.5.1", "Error: need MAIL command")
NEED_RCPT = Reply(503, "5.5.1", "Error: need RCPT command")
NO_VALID_RCPT = Reply(554, "5.5.1", "Error: no valid recipients")
MAIL_AFTER_BDAT = Reply(503, "5.5.1", "Error: MAIL after BDAT")
RCPT_AFTER_BDAT = Reply(503, "5.5.1", "Error: RCPT after BDAT")
DATA_AFTER_BDAT = Reply(503, "5.5.1", "Error: DATA after BDAT")
NULL_BDAT = Reply(551, "5.7.1", "Null BDAT request")
ETRN_IN_TRANSACTION = Reply(503, None, "Error: MAIL transaction in progress")
XCLIENT_IN_TRANSACTION = Reply(503, "5.5.1", "Error: MAIL transaction in progress")
XCLIENT_DENIED = Reply(550, "5.7.0", "Error: insufficient authorization")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Error: too many recipients")
NOT_IMPLEMENTED = Reply(502, "5.5.1", "Error: command not implemented")
BDAT_NOT_IMPLEMENTED = Reply(521, "5.5.1", "Error: command not implemented")
AUTH_NOT_ENABLED = Reply(503, "5.5.1", "Error: authentication not enabled")
VRFY_DISABLED = Reply(502, "5.5.1", "VRFY command is disabled")
TLS_ACTIVE = Reply(554, "5.5.1", "Error: TLS already active")
TLS_REQUIRED = Reply(530, "5.7.0", "Must issue a STARTTLS command first")
TLS_UNAVAILABLE = Reply(454, "4.7.0", "TLS not available due to local problem")
ETRN_UNAVAILABLE = Reply(458, None, "Unable to queue messages")
NON_SMTP = Reply(221, "2.7.0", "Error: I can break rules, too. Goodbye.")
PIPELINING_SYNC = Reply(554, "5.5.0", "Error: SMTP protocol synchronization")


def etrn_service_unavailable(domain: str) -> Reply:
    return Reply(459, None, f"<{domain}>: service unavailable")


def access_denied(client: str) -> Reply:
    """The reply to every command after a CONNECT reject with smtpd_delay_reject=no."""
    return Reply(503, "5.7.0", f"Error: access denied for {client}")


# --- limits and local problems ---------------------------------------------------------------
SIZE_FIXED_LIMIT = Reply(552, "5.3.4", "Message size exceeds fixed limit")
SIZE_FS_LIMIT = Reply(552, "5.3.4", "Message size exceeds file system imposed limit")
MESSAGE_TOO_BIG = Reply(552, "5.3.4", "Error: message file too big")
CHUNK_TOO_BIG = Reply(552, "5.3.4", "Chunk exceeds message size limit")
WRITE_ERROR = Reply(451, "4.3.0", "Error: queue file write error")


def timeout(hostname: str) -> Reply:
    return Reply(421, "4.4.2", f"{hostname} Error: timeout exceeded")


def too_many_errors(hostname: str) -> Reply:
    return Reply(421, "4.7.0", f"{hostname} Error: too many errors")


def local_error(hostname: str) -> Reply:
    """An internal failure (a bug or an unreachable service): hang up rather than accept."""
    return Reply(421, "4.3.0", f"{hostname} Server local error")


def too_many_connections(hostname: str, addr: str) -> Reply:
    """smtpd_client_connection_count_limit (Postfix's anvil), then hang up."""
    return Reply(421, "4.7.0", f"{hostname} Error: too many connections from {addr}")


def config_error(hostname: str) -> Reply:
    return Reply(421, "4.3.5", f"{hostname} Server configuration error")


BARE_LF = "bare <LF> received"  # also the text of its log line (no code, no host name)


def bare_newline(code: int, hostname: str) -> Reply:
    """smtpd_forbid_bare_newline=reject; the DSN class follows the configured code."""
    return Reply(code, f"{str(code)[0]}.5.2", f"{hostname} Error: {BARE_LF}")
