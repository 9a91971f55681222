"""Size-limit pitfalls (pitfalls.md F, P23-P24)."""

from __future__ import annotations

from collections.abc import Iterator

from affix.delivery.mailbox import delivers_to_maildir
from affix.doctor.context import LintContext
from affix.doctor.findings import Finding, Severity
from affix.doctor.registry import check, finding

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741
SMALL_MAILBOX = 50_000_000  # below this an mbox fills up with ordinary mail (pitfalls P24)
SMALL_MESSAGE = 5_000_000  # base64 makes a 3.7 MB attachment 5 MB


def _mbox_delivery(ctx: LintContext) -> bool:
    """Local delivery writes an mbox file: no Maildir, no command, no transport."""
    cfg = ctx.cfg
    return not delivers_to_maildir(cfg) and not cfg.get("mailbox_command").strip() and \
        not cfg.get("mailbox_transport").strip()


@check(("AFX-SIZE-001", E, "mailbox_size_limit below message_size_limit"),
       ("AFX-SIZE-002", E, "mailbox limited while message size is unlimited"))
def limits_order(ctx: LintContext) -> Iterator[Finding]:
    mailbox, message = ctx.cfg.size("mailbox_size_limit"), ctx.cfg.size("message_size_limit")
    where = ctx.where("mailbox_size_limit")
    if mailbox and message and mailbox < message:
        yield finding("AFX-SIZE-001", where,
                      f"mailbox_size_limit ({mailbox}) < message_size_limit ({message}): "
                      "local delivery will not start",
                      "configuration error: mailbox_size_limit is smaller than "
                      "message_size_limit", "raise mailbox_size_limit (default 51200000) or "
                      "set it to 0")
    elif mailbox and not message:
        yield finding("AFX-SIZE-002", where,
                      "mailbox_size_limit is limited but message_size_limit is unlimited",
                      "local delivery refuses to start with this combination",
                      "set message_size_limit, or mailbox_size_limit = 0")


@check(("AFX-SIZE-003", W, "a small mailbox_size_limit with mbox delivery"),
       ("AFX-SIZE-004", W, "a small message_size_limit"))
def small_limits(ctx: LintContext) -> Iterator[Finding]:
    mailbox, message = ctx.cfg.size("mailbox_size_limit"), ctx.cfg.size("message_size_limit")
    if 0 < mailbox < SMALL_MAILBOX and _mbox_delivery(ctx):
        yield finding("AFX-SIZE-003", ctx.where("mailbox_size_limit"),
                      f"mailbox_size_limit {mailbox} bytes limits the whole mbox file",
                      "it is not a per-user quota: once a mailbox reaches it, every later "
                      "delivery bounces (5.2.2 File too large)",
                      "leave the default (51200000) or 0, and use a real quota")
    if 0 < message < SMALL_MESSAGE:
        yield finding("AFX-SIZE-004", ctx.where("message_size_limit"),
                      f"message_size_limit {message} is below 5 MB and rejects common "
                      "attachments", "base64 makes attachments a third larger; bounces "
                      "quoting the original may be lost", "message_size_limit = 10240000 "
                      "(the default) or more")
