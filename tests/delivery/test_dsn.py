"""RFC 3461 DSN requests: NOTIFY decides which notices go back, RET and ENVID shape them,
ORCPT is reported as given (cleanup-and-delivery.md §5)."""

import email
import re
import time

from affix.queue.envelope import Envelope, Recipient
from fixtures.qhelp import (
    USER,
    deliver,
    envelope,
    maildir_files,
    make_config,
    message,
    read_log,
    run,
    run_qmgr,
    use_log,
)

SENDER = f"{USER}@example.test"  # notices come back to USER's Maildir
UNKNOWN = "no-such-user-x@example.test"


def _envelope(*rcpts: Recipient, **kw: object) -> Envelope:
    env = envelope(SENDER)
    env.recipients = list(rcpts)
    for name, value in kw.items():
        setattr(env, name, value)
    return env


def _notices(tmp_path):
    return [m for m in (email.message_from_bytes(f.read_bytes()) for f in maildir_files(tmp_path))
            if m["Return-Path"] == "<>"]


def test_notify_never_and_notify_success_alone_send_no_failure_notice(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    for notify in ("NEVER", "SUCCESS"):
        qid = deliver(cfg, _envelope(Recipient(UNKNOWN, notify=notify)), message(notify))
        text = read_log(tmp_path)
        assert re.search(rf"{qid}: to=<{UNKNOWN}>, .*status=bounced", text)
        assert f"{qid}: sender non-delivery notification" not in text
        assert re.search(rf"{qid}: removed", text)
    assert _notices(tmp_path) == []


def test_a_failure_notice_names_only_the_recipients_that_asked_for_it(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    deliver(cfg, _envelope(Recipient(UNKNOWN, notify="NEVER"),
                           Recipient("other-unknown-y@example.test", notify="FAILURE,DELAY")),
            message("two"))
    [notice] = _notices(tmp_path)
    status = notice.get_payload()[1].as_string()
    assert "Final-Recipient: rfc822; other-unknown-y@example.test" in status
    assert UNKNOWN not in status


def test_ret_hdrs_envid_and_orcpt_shape_the_failure_notice(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    deliver(cfg, _envelope(Recipient(UNKNOWN, orcpt="rfc822;first@example.org"),
                           ret="HDRS", envid="QQ314159"), message("hdrs", body="secret body\n"))
    [notice] = _notices(tmp_path)
    parts = notice.get_payload()
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/delivery-status",
                                                      "text/rfc822-headers"]
    status = parts[1].as_string()
    assert "Original-Envelope-Id: QQ314159" in status
    assert "Original-Recipient: rfc822;first@example.org" in status
    assert "Subject: hdrs" in parts[2].get_payload()
    assert "secret body" not in notice.as_string()


def test_notify_success_reports_the_delivery(tmp_path):
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    qid = deliver(cfg, _envelope(Recipient(SENDER, notify="SUCCESS,FAILURE")), message("ok"))
    text = read_log(tmp_path)
    new_id = re.search(rf"postfix/bounce\[\d+\]: {qid}: sender delivery status notification: "
                       r"(\w+)", text).group(1)
    assert re.search(rf"{new_id}: from=<>, ", text)
    [report] = _notices(tmp_path)
    assert report["Subject"] == "Successful Mail Delivery Report"
    status = report.get_payload()[1].as_string()
    assert f"Final-Recipient: rfc822; {SENDER}" in status
    assert "Action: delivered" in status and "Status: 2.0.0" in status
    assert report.get_payload()[2].get_content_type() == "text/rfc822-headers"
    assert len(maildir_files(tmp_path)) == 2  # the message itself, and the report


def test_no_delay_warning_for_a_recipient_that_asked_only_for_failures(tmp_path):
    cfg = make_config(tmp_path, "delay_warning_time = 1s\n")
    use_log(tmp_path)
    env = _envelope(Recipient("someone@remote.example", notify="FAILURE"))
    env.arrival = time.time() - 60
    qid = deliver(cfg, env, message("slow"), until_empty=False)
    run(run_qmgr(cfg, until_empty=False, settle=1.5))
    text = read_log(tmp_path)
    assert re.search(rf"{qid}: to=<someone@remote\.example>, .*status=deferred", text)
    assert "delay notification" not in text


def test_a_success_traced_in_an_earlier_attempt_is_reported_when_the_last_one_ends(tmp_path):
    import shutil
    import tempfile
    from pathlib import Path

    from affix.delivery.aliases import build_alias_table

    gate = Path(tempfile.mkdtemp(prefix="affix-dsn-"))  # commands may run as nobody
    try:
        gate.chmod(0o777)
        aliases = tmp_path / "aliases"
        aliases.write_text(f'later: "|test -e {gate}/go || exit 75"\n')
        build_alias_table(f"hash:{aliases}")
        cfg = make_config(tmp_path, f"alias_maps = hash:{aliases}\n")
        use_log(tmp_path)
        qid = deliver(cfg, _envelope(Recipient(SENDER, notify="SUCCESS"),
                                     Recipient("later@example.test")),
                      message("two tries"), until_empty=False)
        assert re.search(rf"{qid}: to=<later@example\.test>, .*status=deferred",
                         read_log(tmp_path))
        assert _notices(tmp_path) == []  # not before the message is done
        (gate / "go").touch()
        run(run_qmgr(cfg, settle=1.5))
        text = read_log(tmp_path)
        assert re.search(rf"{qid}: to=<later@example\.test>, .*status=sent", text)
        assert f"{qid}: sender delivery status notification: " in text
        [report] = _notices(tmp_path)
        assert f"Final-Recipient: rfc822; {SENDER}" in report.get_payload()[1].as_string()
    finally:
        shutil.rmtree(gate, ignore_errors=True)


def test_a_failure_notice_is_laid_out_as_postfixs(tmp_path):
    """The facts tools and people read in Postfix's notices: a Received header (the notice is
    mail made here), Date first, a UTF-8 text part, Original-Recipient for every recipient,
    and the returned message with its Return-Path."""
    cfg = make_config(tmp_path)
    use_log(tmp_path)
    deliver(cfg, _envelope(Recipient(UNKNOWN)), message("layout"))
    [f] = [f for f in maildir_files(tmp_path) if b"\nReturn-Path: <>" in b"\n" + f.read_bytes()]
    raw = f.read_text()
    headers = raw.split("\n\n", 1)[0].splitlines()
    names = [h.split(":", 1)[0] for h in headers if not h.startswith(("\t", " "))]
    assert names.index("Received") < names.index("Date") < names.index("From")
    notice = email.message_from_string(raw)
    text, status, returned = notice.get_payload()
    assert text["Content-Type"] == "text/plain; charset=utf-8"
    assert f"Original-Recipient: rfc822;{UNKNOWN}" in status.as_string()
    assert returned.as_string().split("\n\n", 1)[1].startswith(f"Return-Path: <{SENDER}>\n")
