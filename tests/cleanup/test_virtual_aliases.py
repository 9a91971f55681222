"""virtual_alias_maps: cleanup rewrites every envelope recipient (cleanup-and-delivery.md §3);
the queue manager delivers to what the tables say, and logs the address as received."""

import re

from affix.cleanup.service import Cleanup
from affix.cleanup.virtual import ExpansionProblem
from affix.tables.compile import Options, compile_source
from fixtures.qhelp import (
    USER,
    deliver,
    envelope,
    maildir_files,
    make_config,
    message,
    read_log,
    store_for,
    use_log,
)


def _virtual(tmp_path, entries: str, extra: str = ""):
    path = tmp_path / "virtual"
    path.write_text(entries)
    compile_source(str(path), Options(), [])  # as `affix map` builds it
    return make_config(tmp_path, f"virtual_alias_maps = hash:{path}\n" + extra)


def _expand(cfg, address):
    cleanup = Cleanup(cfg, store_for(cfg))
    return cleanup.virtual.expand(address)


def test_a_virtual_alias_is_delivered_to_its_target_with_the_address_as_received(tmp_path):
    cfg = _virtual(tmp_path, f"info@alias.example  {USER}@example.test\n")
    use_log(tmp_path)
    qid = deliver(cfg, envelope("a@example.org", "info@alias.example"), message("va"))
    [f] = maildir_files(tmp_path)
    assert f.read_text().startswith(f"Return-Path: <a@example.org>\nX-Original-To: "
                                    f"info@alias.example\nDelivered-To: {USER}@example.test\n")
    assert re.search(rf"{qid}: to=<{USER}@example\.test>, orig_to=<info@alias\.example>, "
                     r"relay=local, .*status=sent \(delivered to maildir\)", read_log(tmp_path))


def test_lookup_order_qualification_catch_all_and_extensions(tmp_path):
    cfg = _virtual(tmp_path, "\n".join([
        "sales@example.org    team",  # unqualified: @$myorigin
        "team                 a@example.net, b@example.net",  # bare key: local domains only
        "@example.com         @example.net",  # the catch-all keeps the user part
        "joe@example.org      joe@example.net",
        "loop1@example.org    loop2@example.org",
        "loop2@example.org    loop1@example.org",
        "self@example.org     self@example.org, copy@example.net",
    ]) + "\n", "recipient_delimiter = +\nmyorigin = example.test\n")
    assert _expand(cfg, "Sales@Example.org") == ["a@example.net", "b@example.net"]
    assert _expand(cfg, "team@example.test") == ["a@example.net", "b@example.net"]
    assert _expand(cfg, "team@other.example") == ["team@other.example"]  # not local: no bare key
    assert _expand(cfg, "anyone+x@example.com") == ["anyone+x@example.net"]
    assert _expand(cfg, "joe+news@example.org") == ["joe+news@example.net"]  # carried over
    assert _expand(cfg, "loop1@example.org") == ["loop1@example.org"]
    assert _expand(cfg, "self@example.org") == ["self@example.org", "copy@example.net"]
    assert _expand(cfg, "nobody@example.org") == ["nobody@example.org"]


def test_an_expansion_past_its_limits_refuses_the_message_for_now(tmp_path):
    cfg = _virtual(tmp_path, "a@example.org  b@example.org\nb@example.org  c@example.org\n"
                             "c@example.org  d@example.org\n"
                             "wide@example.org  w1@x.example w2@x.example w3@x.example\n",
                   "virtual_alias_recursion_limit = 2\nvirtual_alias_expansion_limit = 2\n")
    cleanup = Cleanup(cfg, store_for(cfg))
    for address, what in (("a@example.org", "nesting"), ("wide@example.org", "expansion size")):
        try:
            cleanup.virtual.expand(address)
        except ExpansionProblem as e:
            assert f"unreasonable virtual_alias_maps map {what} for {address}" in str(e)
        else:
            raise AssertionError(f"{address} expanded")
    use_log(tmp_path)
    qf = cleanup.open()
    prepared = cleanup.prepare(qf.queue_id, envelope("s@example.org", "wide@example.org"),
                               message(), "smtp")
    cleanup.abandon(qf)
    assert str(prepared.reply) == "451 4.6.0 Alias expansion error"  # Postfix's deferral
    assert prepared.data is None
    assert f"warning: {qf.queue_id}: unreasonable virtual_alias_maps map expansion size" \
        in read_log(tmp_path)


def test_an_unreadable_virtual_table_refuses_the_message_for_now(tmp_path):
    cfg = make_config(tmp_path, f"virtual_alias_maps = hash:{tmp_path}/missing\n")
    use_log(tmp_path)
    cleanup = Cleanup(cfg, store_for(cfg))
    qf = cleanup.open()
    prepared = cleanup.prepare(qf.queue_id, envelope("s@example.org", "x@example.org"),
                               message(), "smtp")
    cleanup.abandon(qf)
    assert str(prepared.reply) == "451 4.3.0 Error: queue file write error"
    assert "virtual_alias_maps map lookup problem for x@example.org" in read_log(tmp_path)


def test_an_unknown_user_of_a_virtual_alias_domain_bounces(tmp_path):
    cfg = _virtual(tmp_path, f"info@alias.example  {USER}@example.test\n",
                   "virtual_alias_domains = alias.example\n")
    use_log(tmp_path)
    qid = deliver(cfg, envelope("", "nobody@alias.example"), message("unknown"))
    assert re.search(rf"postfix/error\[\d+\]: {qid}: to=<nobody@alias\.example>, relay=none, "
                     r".*dsn=5\.1\.1, status=bounced \(User unknown in virtual alias table\)",
                     read_log(tmp_path))


def test_a_catch_all_to_one_address_carries_no_extension(tmp_path):
    cfg = _virtual(tmp_path, "@example.com  bob@example.net\n", "recipient_delimiter = +\n")
    assert _expand(cfg, "anyone+x@example.com") == ["bob@example.net"]


def test_endless_and_branching_expansions_stop_at_the_limits_without_running_away(tmp_path):
    rx = tmp_path / "grow"
    rx.write_text("/^(.*)@example\\.com$/ ${1}x@example.com\n")  # a new address every level
    cfg = make_config(tmp_path, f"virtual_alias_maps = regexp:{rx}\n")
    cleanup = Cleanup(cfg, store_for(cfg))
    try:
        cleanup.virtual.expand("a@example.com")
    except ExpansionProblem as e:  # not Python's RecursionError
        assert "map nesting for a@example.com" in str(e)
    else:
        raise AssertionError("expanded")
    shared = "".join(f"l{n}a@x.test l{n + 1}a@x.test, l{n + 1}b@x.test\n"
                     f"l{n}b@x.test l{n + 1}a@x.test, l{n + 1}b@x.test\n" for n in range(40))
    cfg = _virtual(tmp_path, shared)  # 2**40 paths if sub-lists were expanded each time
    try:
        _expand(cfg, "l0a@x.test")
    except ExpansionProblem as e:
        assert "map expansion size for l0a@x.test" in str(e)
    else:
        raise AssertionError("expanded")
