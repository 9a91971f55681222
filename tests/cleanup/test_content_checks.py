"""header_checks / mime_header_checks / nested_header_checks / body_checks through
Cleanup.finish with real regexp and pcre files (cleanup-and-delivery.md §1, pitfalls P25)."""

import re

import pytest

from affix.cleanup.service import INTERNAL, LOCAL, Cleanup, SubmitError
from fixtures.qhelp import HOST, envelope, make_config, message, read_log, run, store_for, use_log

WHERE = ("from client.example.org[192.0.2.7]; from=<a@example.org> to=<b@example.test> "
         "proto=ESMTP helo=<client.example.org>")
RECEIVED = ("Received: from client.example.org (client.example.org [192.0.2.7])#012#011"
            f"by {HOST} (affix) with ESMTP id X")


def _config(tmp_path, extra="", **tables):
    """tables: parameter name -> regexp rules (a `pcre:` prefix in the text selects pcre)."""
    lines = ""
    for param, rules in tables.items():
        kind = "regexp"
        if rules.startswith("pcre:"):
            kind, rules = "pcre", rules[5:]
        path = tmp_path / f"{param}.{kind}"
        path.write_text(rules)
        lines += f"{param} = {kind}:{path}\n"
    cfg = make_config(tmp_path, lines + extra)
    use_log(tmp_path)
    return cfg


def _finish(cfg, content, *rcpts):
    env = envelope("a@example.org", *(rcpts or ("b@example.test",)))
    cleanup = Cleanup(cfg, store_for(cfg))
    qf = cleanup.open()
    reply = run(cleanup.finish(qf, env, content))
    return qf.queue_id, reply


def _stored(cfg, qid, queue="incoming"):
    return store_for(cfg).read(queue, qid)


def _cleanup_lines(tmp_path):
    return re.findall(r"postfix/cleanup\[\d+\]: (.*)", read_log(tmp_path))


MIME_MESSAGE = (
    b"Received: from client.example.org\n"
    b"MIME-Version: 1.0\n"
    b"Content-Type: multipart/mixed; boundary=\"outer\"\n"
    b"X-Tag: primary\n"
    b"Subject: forwarded\n"
    b"\n"
    b"X-Tag: preamble text\n"
    b"--outer\n"
    b"Content-Type: text/plain\n"
    b"X-Tag: part header\n"
    b"\n"
    b"X-Tag: part body\n"
    b"--outer\n"
    b"Content-Type: message/rfc822\n"
    b"\n"
    b"Received: from inner.example.org\n"
    b"X-Tag: nested\n"
    b"Content-Type: text/plain\n"
    b"\n"
    b"X-Tag: nested body\n"
    b"--outer--\n")


# --- the memo's rule (pitfalls P25) -----------------------------------------------------------

def test_received_ignore_deletes_silently_but_the_hop_still_counts(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Received:/ IGNORE\n")
    qid, reply = _finish(cfg, message("hi"))
    assert reply.code == 250
    content = _stored(cfg, qid).content
    assert b"Received:" not in content and content.startswith(b"Message-Id: <hi@example.org>")
    assert not [ln for ln in _cleanup_lines(tmp_path) if "header Received" in ln]

    received = "".join(f"Received: from hop{i}\n" for i in range(50))
    qid, reply = _finish(cfg, f"{received}Subject: loop\n\nbody\n".encode())
    assert str(reply) == "554 5.4.0 Error: too many hops"
    assert f"warning: {qid}: message rejected: hopcount exceeded" in read_log(tmp_path)


def test_received_ignore_also_edits_attached_messages(tmp_path):
    # mime_header_checks and nested_header_checks default to $header_checks (P25 point 2)
    cfg = _config(tmp_path, header_checks="/^Received:/ IGNORE\n")
    qid, _ = _finish(cfg, MIME_MESSAGE)
    content = _stored(cfg, qid).content
    assert b"Received:" not in content
    assert content == MIME_MESSAGE.replace(b"Received: from client.example.org\n", b"") \
        .replace(b"Received: from inner.example.org\n", b"")


def test_strip_deletes_and_logs(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Received:/ STRIP trace removed\n")
    qid, _ = _finish(cfg, message("hi"))
    assert b"Received:" not in _stored(cfg, qid).content
    assert f"{qid}: strip: header {RECEIVED} {WHERE}: trace removed" in _cleanup_lines(tmp_path)


# --- log line and reject replies ------------------------------------------------------------

def test_reject_replies_550_logs_the_spec_line_and_queues_nothing(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Subject: win money/ REJECT no thanks\n")
    qid, reply = _finish(cfg, message("win money"))
    assert str(reply) == "550 5.7.1 no thanks"
    assert f"{qid}: reject: header Subject: win money {WHERE}: 5.7.1 no thanks" \
        in _cleanup_lines(tmp_path)
    assert list(store_for(cfg).iterate("incoming")) == []


@pytest.mark.parametrize(("rule", "expected"), [
    ("REJECT", "550 5.7.1 message content rejected"),
    ("REJECT 5.7.0 policy says no", "550 5.7.0 policy says no"),
    ("REJECT 4.7.1 try again later", "451 4.7.1 try again later"),
    ("reject lower case works", "550 5.7.1 lower case works"),
])
def test_reject_texts_and_codes(tmp_path, rule, expected):
    cfg = _config(tmp_path, body_checks=f"/^spam spam/ {rule}\n")
    qid, reply = _finish(cfg, message(body="ham\nspam spam\n"))
    assert str(reply) == expected
    assert f"{qid}: reject: body spam spam {WHERE}: {expected[4:]}" in _cleanup_lines(tmp_path)


def test_reject_of_a_local_submission_is_a_submit_error_logged_from_local(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Subject: bad/ REJECT\n")
    with pytest.raises(SubmitError) as info:
        Cleanup(cfg, store_for(cfg)).submit_sync(envelope("u@example.test", "b@example.test"),
                                                 b"Subject: bad\n\nbody\n", LOCAL)
    assert str(info.value.reply) == "550 5.7.1 message content rejected"
    assert re.search(r": reject: header Subject: bad from local; from=<u@example\.test> "
                     r"to=<b@example\.test>: 5\.7\.1 message content rejected$",
                     read_log(tmp_path), re.M)


def test_table_lookup_error_gives_451_and_the_warning(tmp_path):
    cfg = make_config(tmp_path, f"header_checks = regexp:{tmp_path}/missing.regexp\n")
    use_log(tmp_path)
    qid, reply = _finish(cfg, message())
    assert reply.code == 451 and reply.dsn == "4.3.0"
    assert (f"warning: {qid}: header_checks map lookup problem -- message not accepted, "
            "try again later") in read_log(tmp_path)
    assert list(store_for(cfg).iterate("incoming")) == []


# --- the other actions --------------------------------------------------------------------

def test_warn_and_info_keep_the_line_and_omit_to_with_two_recipients(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Subject: (.*)/ WARN subject was $1\n"
                                          "/^From:/ INFO\n")
    qid, reply = _finish(cfg, message("odd"), "b@example.test", "c@example.test")
    assert reply.code == 250
    lines = _cleanup_lines(tmp_path)
    where = WHERE.replace(" to=<b@example.test>", "")
    assert f"{qid}: warning: header Subject: odd {where}: subject was odd" in lines
    assert f"{qid}: info: header From: a@example.org {where}" in lines
    assert b"Subject: odd\n" in _stored(cfg, qid).content


def test_dunno_ok_and_first_match_wins(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Subject: fine/ DUNNO\n/^Subject:/ REJECT\n"
                                          "/^From:/ OK\n/^From:/ REJECT\n")
    _, reply = _finish(cfg, message("fine"))
    assert reply.code == 250
    _, reply = _finish(cfg, message("other"))
    assert reply.code == 550


def test_discard_accepts_and_queues_nothing(tmp_path):
    cfg = _config(tmp_path, body_checks="/^unwanted/ DISCARD dropped\n")
    qid, reply = _finish(cfg, message(body="unwanted\n"))
    assert str(reply) == f"250 2.0.0 Ok: queued as {qid}"
    assert list(store_for(cfg).iterate("incoming")) == []
    assert f"{qid}: discard: body unwanted {WHERE}: dropped" in _cleanup_lines(tmp_path)


def test_hold_puts_the_message_on_hold(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Subject: check me/ HOLD\n")
    qid, reply = _finish(cfg, message("check me"))
    assert reply.code == 250
    assert list(store_for(cfg).iterate("hold")) == [qid]
    assert f"{qid}: hold: header Subject: check me {WHERE}" in _cleanup_lines(tmp_path)


def test_redirect_replaces_the_recipients(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Subject: x/ REDIRECT abuse@example.test\n")
    qid, _ = _finish(cfg, message("x"), "b@example.test", "c@example.test")
    rcpts = _stored(cfg, qid).envelope.recipients
    assert [r.address for r in rcpts] == ["abuse@example.test"]
    assert f"{qid}: redirect: header Subject: x " in "\n".join(_cleanup_lines(tmp_path))


def test_redirect_without_at_sign_is_ignored_with_a_warning(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Subject: x/ REDIRECT nobody\n")
    qid, _ = _finish(cfg, message("x"))
    assert [r.address for r in _stored(cfg, qid).envelope.recipients] == ["b@example.test"]
    assert ('warning: bad REDIRECT argument "nobody" in header_checks map -- need user@domain'
            in read_log(tmp_path))


def test_filter_sets_the_content_filter(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Subject: scan/ FILTER scan:[127.0.0.1]:10025\n"
                                          "/^From:/ FILTER broken\n")
    qid, _ = _finish(cfg, message("scan"))
    assert _stored(cfg, qid).envelope.filter == "scan:[127.0.0.1]:10025"
    assert "need transport:destination" in read_log(tmp_path)


def test_bcc_adds_a_recipient_without_notifications(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Subject: copy/ BCC archive@example.test\n")
    qid, _ = _finish(cfg, message("copy"))
    rcpts = _stored(cfg, qid).envelope.recipients
    assert [(r.address, r.notify) for r in rcpts] == [("b@example.test", ""),
                                                      ("archive@example.test", "NEVER")]
    assert f"{qid}: bcc: header Subject: copy {WHERE}: archive@example.test" \
        in _cleanup_lines(tmp_path)


def test_prepend_inserts_an_uninspected_line(tmp_path):
    cfg = _config(tmp_path,
                  header_checks="/^Subject:/ PREPEND X-Seen: yes\n/^X-Seen:/ REJECT\n"
                                "/^From:/ PREPEND not a header\n",
                  body_checks="/^sig/ PREPEND -- inserted\n")
    qid, reply = _finish(cfg, message("p", body="text\nsig\n"))
    assert reply.code == 250
    content = _stored(cfg, qid).content
    assert b"X-Seen: yes\nSubject: p\n" in content
    assert content.endswith(b"\ntext\n-- inserted\nsig\n")
    assert 'bad PREPEND argument "not a header" in header_checks map' in read_log(tmp_path)
    assert f"{qid}: prepend: header Subject: p {WHERE}: X-Seen: yes" in _cleanup_lines(tmp_path)


def test_replace_with_substitution_in_header_and_body(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Subject: (.*)/ REPLACE Subject: [ext] $1\n",
                  body_checks="/^password: .*/ REPLACE password: (removed)\n")
    qid, _ = _finish(cfg, message("hello", body="a\npassword: hunter2\nb\n"))
    content = _stored(cfg, qid).content
    assert b"\nSubject: [ext] hello\n" in content
    assert content.endswith(b"\na\npassword: (removed)\nb\n")
    assert b"hunter2" not in content
    assert (f"{qid}: replace: body password: hunter2 {WHERE}: password: (removed)"
            in _cleanup_lines(tmp_path))


def test_pass_turns_off_the_rest_of_the_checks(tmp_path):
    cfg = _config(tmp_path, header_checks="/^From: a@/ PASS\n/^Subject:/ REJECT\n",
                  body_checks="/./ REJECT\n")
    qid, reply = _finish(cfg, message("later", body="anything\n"))
    assert reply.code == 250
    assert f"{qid}: pass: header From: a@example.org {WHERE}" in _cleanup_lines(tmp_path)


def test_unknown_command_warns_and_keeps_the_line(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Subject:/ FROBNICATE now\n")
    qid, reply = _finish(cfg, message("s"))
    assert reply.code == 250 and b"Subject: s\n" in _stored(cfg, qid).content
    assert "warning: unknown command in header_checks map: FROBNICATE now" in read_log(tmp_path)


def test_pcre_tables_work_too(tmp_path):
    cfg = _config(tmp_path, header_checks="pcre:/^Subject:.*\\bviagra\\b/ REJECT 5.7.1 spam\n")
    _, reply = _finish(cfg, message("cheap VIAGRA"))
    assert str(reply) == "550 5.7.1 spam"


# --- what is looked up ------------------------------------------------------------------------

def test_mime_structure_decides_which_table_sees_a_line(tmp_path):
    cfg = _config(tmp_path,
                  header_checks="/^X-Tag: (.*)/ WARN header_checks $1\n",
                  mime_header_checks="/^X-Tag: (.*)/ WARN mime_header_checks $1\n"
                                     "/^Content-Type: multipart/ WARN mime_header_checks\n",
                  nested_header_checks="/^X-Tag: (.*)/ WARN nested_header_checks $1\n",
                  body_checks="/^X-Tag: (.*)/ WARN body_checks $1\n"
                              "/^--outer--$/ WARN body_checks boundary\n")
    qid, reply = _finish(cfg, MIME_MESSAGE)
    assert reply.code == 250
    texts = re.findall(r": warning: (header|body) .* helo=<[^>]*>: (.*)$", read_log(tmp_path),
                       re.M)
    assert texts == [
        ("header", "mime_header_checks"),  # Content-Type: multipart/... in the primary header
        ("header", "header_checks primary"),
        ("body", "body_checks preamble text"),
        ("header", "mime_header_checks part header"),
        ("body", "body_checks part body"),
        ("header", "nested_header_checks nested"),
        ("body", "body_checks nested body"),
        ("body", "body_checks boundary"),
    ]
    assert _stored(cfg, qid).content == MIME_MESSAGE


def test_folded_header_is_one_lookup_with_embedded_newline(tmp_path):
    cfg = _config(tmp_path, header_checks="pcre:/^Subject: one\\n\\ttwo$/ REJECT folded\n")
    _, reply = _finish(cfg, message("one\n\ttwo"))
    assert str(reply) == "550 5.7.1 folded"
    cfg = _config(tmp_path, header_checks="/^Subject: one[[:space:]]+two$/ REJECT folded\n")
    _, reply = _finish(cfg, message("one\n\ttwo"))
    assert str(reply) == "550 5.7.1 folded"


def test_header_longer_than_header_size_limit_is_looked_up_truncated(tmp_path):
    rules = "/^X-Long: x+y/ REJECT saw the end\n"
    long_header = "X-Long: " + "x" * 300 + "y\n"
    cfg = _config(tmp_path, header_checks=rules)
    _, reply = _finish(cfg, message(extra=long_header))
    assert reply.code == 550
    cfg = _config(tmp_path, "header_size_limit = 100\n", header_checks=rules)
    qid, reply = _finish(cfg, message(extra=long_header))
    assert reply.code == 250
    assert long_header.encode() in _stored(cfg, qid).content  # the header itself is kept


def test_empty_lines_never_match_and_only_the_size_limit_is_inspected(tmp_path):
    cfg = _config(tmp_path, "body_checks_size_limit = 100\n",
                  body_checks="/^$/ REJECT empty\n/^late/ REJECT late\n")
    _, reply = _finish(cfg, message(body="\n\n" + "filler\n" * 20 + "late\n"))
    assert reply.code == 250
    _, reply = _finish(cfg, message(body="late\n"))
    assert str(reply) == "550 5.7.1 late"


def test_long_body_lines_are_inspected_in_line_length_limit_chunks(tmp_path):
    cfg = _config(tmp_path, "line_length_limit = 100\n", body_checks="/^secret/ REJECT\n")
    _, reply = _finish(cfg, message(body="a" * 100 + "secret\n"))
    assert reply.code == 550
    _, reply = _finish(cfg, message(body="a" * 99 + "secret\n"))
    assert reply.code == 250


def test_unmatched_content_stays_byte_identical(tmp_path):
    cfg = _config(tmp_path, header_checks="/^X-Drop:/ IGNORE\n", body_checks="/^zzz/ WARN\n")
    raw = (b"Received: from x\nSubject: =?utf-8?q?caf=C3=A9?=\nX-Drop: me\n"
           b"X-8bit: caf\xc3\xa9 \xff\xfe\n\nline with CR\r\n\xff binary \x00\n\n\nend")
    qid, _ = _finish(cfg, raw)
    assert _stored(cfg, qid).content == raw.replace(b"X-Drop: me\n", b"")


# --- when checks are off ----------------------------------------------------------------------

def test_no_header_body_checks_turns_everything_off(tmp_path):
    cfg = _config(tmp_path, "receive_override_options = no_header_body_checks\n",
                  header_checks="/^Subject:/ REJECT\n")
    _, reply = _finish(cfg, message())
    assert reply.code == 250


def test_internal_mail_is_not_checked_unless_asked(tmp_path):
    cfg = _config(tmp_path, header_checks="/^Subject: bounce/ REJECT\n")
    store = store_for(cfg)
    qid = Cleanup(cfg, store).submit_sync(envelope("", "a@example.org"),
                                          b"Subject: bounce\n\nbody\n", INTERNAL)
    assert qid in list(store.iterate("incoming"))
    cfg = _config(tmp_path, "internal_mail_filter_classes = bounce\n",
                  header_checks="/^Subject: bounce/ REJECT\n")
    with pytest.raises(SubmitError):
        Cleanup(cfg, store).submit_sync(envelope("", "a@example.org"),
                                        b"Subject: bounce\n\nbody\n", INTERNAL)


def test_body_checks_size_limit_counts_per_mime_segment(tmp_path):
    cfg = _config(tmp_path, "body_checks_size_limit = 100\n", body_checks="/^bad/ REJECT\n")

    def multipart(first: str, second: str) -> bytes:
        return ("Received: from x\nContent-Type: multipart/mixed; boundary=\"b\"\n\n"
                f"--b\nContent-Type: text/plain\n\n{first}--b\nContent-Type: text/plain\n\n"
                f"{second}--b--\n").encode()

    filler = "filler line\n" * 20
    _, reply = _finish(cfg, multipart(filler + "bad late in part one\n", "fine\n"))
    assert reply.code == 250
    _, reply = _finish(cfg, multipart(filler, "bad early in part two\n"))
    assert reply.code == 550
