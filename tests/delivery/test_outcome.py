"""Outcome and local's context are copied by hand (dataclasses.replace is slow on the hot
path): a copy must keep every field, and a field added later must not be dropped silently."""

import dataclasses

from affix.delivery.agent import SENT, DeliveryRequest, Outcome
from affix.delivery.local import _Ctx
from affix.queue.envelope import Envelope, Recipient


def test_an_outcome_marked_unsynced_keeps_every_other_field():
    o = Outcome("a@example.org", SENT, "2.0.0", "delivered", "local", "b@example.org", "/x")
    assert o.with_unsynced("/new") == dataclasses.replace(o, unsynced="/new")
    assert [f.name for f in dataclasses.fields(Outcome)] == [
        "to", "status", "dsn", "text", "relay", "orig_to", "unsynced"]  # with_unsynced's copy


def test_a_context_with_an_extension_keeps_every_other_field():
    rcpt = Recipient("a+x@example.org")
    ctx = _Ctx(DeliveryRequest("Q1", Envelope("s@example.org", [rcpt]), rcpt, b""),
               "a+x@example.org", "b@example.org", "old")
    assert ctx.with_extension("x") == dataclasses.replace(ctx, extension="x")
    assert ctx.with_extension("x").seen is ctx.seen  # one set for the whole recipient
    assert [f.name for f in dataclasses.fields(_Ctx)] == [
        "req", "rcpt", "orig", "extension", "depth", "seen"]  # with_extension's copy
