"""permit, reject, defer, defer_if_*, sleep, reject_unauth_pipelining, ... (restrictions.md §2).

These reply with the reply name and class of the list they stand in.
"""

from __future__ import annotations

import asyncio

from affix.ascii import is_digits
from affix.policy.evaluation import Evaluation
from affix.policy.registry import Arg, Result, restriction


@restriction("permit")
async def permit(ev: Evaluation, arg: str | None) -> Result:
    return Result.OK


@restriction("reject")
async def reject(ev: Evaluation, arg: str | None) -> Result:
    return ev.reject(ev.cfg.int("reject_code"), "5.7.1",
                     f"<{ev.reply_name}>: {ev.lst.reply_class} rejected: Access denied")


@restriction("defer")
async def defer(ev: Evaluation, arg: str | None) -> Result:
    return ev.reject(ev.cfg.int("defer_code"), "4.3.2",
                     f"<{ev.reply_name}>: {ev.lst.reply_class} rejected: Try again later")


@restriction("defer_if_permit")
async def defer_if_permit(ev: Evaluation, arg: str | None) -> Result:
    return ev.raise_defer_if_permit(
        450, "4.7.0",
        f"<{ev.reply_name}>: {ev.lst.reply_class} rejected: defer_if_permit requested")


@restriction("defer_if_reject")
async def defer_if_reject(ev: Evaluation, arg: str | None) -> Result:
    return ev.raise_defer_if_reject(
        450, "4.7.0",
        f"<{ev.reply_name}>: {ev.lst.reply_class} rejected: defer_if_reject requested")


@restriction("sleep", arg=Arg.NUMBER)
async def sleep(ev: Evaluation, arg: str | None) -> Result:
    if arg is None or not is_digits(arg):
        ev.server_error(f'restriction sleep: bad argument "{arg or ""}": need a number')
    ev.note(f"sleep {arg}s")
    await asyncio.sleep(int(arg))
    return Result.DUNNO


@restriction("reject_unauth_pipelining")
async def reject_unauth_pipelining(ev: Evaluation, arg: str | None) -> Result:
    """The client sent commands ahead without PIPELINING (§7)."""
    if not ev.state.illegal_pipelining:
        return Result.DUNNO
    return ev.reject(503, "5.5.0", f"<{ev.reply_name}>: {ev.lst.reply_class} rejected: "
                                   "Improper use of SMTP command pipelining")


@restriction("reject_plaintext_session")
async def reject_plaintext_session(ev: Evaluation, arg: str | None) -> Result:
    if ev.state.tls_active:
        return Result.DUNNO
    return ev.reject(ev.cfg.int("plaintext_reject_code"), "4.7.1",
                     "Session encryption is required")


@restriction("reject_multi_recipient_bounce")
async def reject_multi_recipient_bounce(ev: Evaluation, arg: str | None) -> Result:
    """A null sender with more than one recipient (at RCPT: one is already accepted)."""
    st = ev.state
    if st.sender != "":
        return Result.DUNNO
    accepted_before = 0 if ev.stage.value in ("RCPT", "VRFY") else 1
    if len(st.recipients) <= accepted_before:
        return Result.DUNNO
    return ev.reject(ev.cfg.int("multi_recipient_bounce_reject_code"), "5.5.3",
                     f"<{ev.reply_name}>: {ev.lst.reply_class} rejected: "
                     "Multi-recipient bounce")


@restriction("permit_sasl_authenticated")
async def permit_sasl_authenticated(ev: Evaluation, arg: str | None) -> Result:
    ev.note(f"sasl_username={ev.state.sasl_username or ''}")
    return Result.OK if ev.state.sasl_username else Result.DUNNO
