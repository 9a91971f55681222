"""Content checks behind the real smtpd: the end-of-data reply and the log line a client and
fail2ban see (cleanup-and-delivery.md §1)."""

import asyncio
import re
import smtplib

from affix.cleanup.service import Cleanup
from affix.smtpd.server import SessionContext, SmtpService
from fixtures.qhelp import make_config, read_log, store_for, use_log


def _send(cfg, content: bytes, client_addr: str | None = None):
    """One SMTP transaction to a real smtpd with a real cleanup; (code, text) of DATA. With
    client_addr, XCLIENT makes the session a remote client's (the config must authorize
    127.0.0.1 in smtpd_authorized_xclient_hosts)."""
    async def go():
        ctx = SessionContext(cfg, cleanup=Cleanup(cfg, store_for(cfg)))
        service = SmtpService("smtp", "127.0.0.1", 0, lambda: ctx)
        await service.start()

        def client():
            with smtplib.SMTP("127.0.0.1", service.bound_port, timeout=10) as s:
                s.ehlo("client.example.org")
                if client_addr is not None:
                    assert s.docmd("XCLIENT", f"ADDR={client_addr}")[0] == 220
                    s.ehlo("client.example.org")
                s.mail("a@example.org")
                s.rcpt("b@example.test")
                return s.data(content)
        try:
            return await asyncio.to_thread(client)
        finally:
            service.stop_listening()
            await service.drain(1)
    return asyncio.run(go())


def test_reject_reaches_the_client_as_550_and_the_log_names_the_client(tmp_path):
    (tmp_path / "hc").write_text("/^Subject: win money/ REJECT no thanks\n")
    cfg = make_config(tmp_path, f"header_checks = regexp:{tmp_path}/hc\n")
    use_log(tmp_path)
    code, text = _send(cfg, b"Subject: win money\r\n\r\nbody\r\n")
    assert (code, text) == (550, b"5.7.1 no thanks")
    assert re.search(r"postfix/cleanup\[\d+\]: \w+: reject: header Subject: win money from "
                     r"\S+\[127\.0\.0\.1\]; from=<a@example\.org> to=<b@example\.test> "
                     r"proto=ESMTP helo=<client\.example\.org>: 5\.7\.1 no thanks$",
                     read_log(tmp_path), re.M)
    assert list(store_for(cfg).iterate("incoming")) == []


def test_received_ignore_removes_smtpds_own_received_header(tmp_path):
    (tmp_path / "hc").write_text("/^Received:/ IGNORE\n")
    cfg = make_config(tmp_path, f"header_checks = regexp:{tmp_path}/hc\n"
                                f"smtpd_authorized_xclient_hosts = 127.0.0.1\n")
    use_log(tmp_path)
    code, text = _send(cfg, b"Subject: trace\r\n\r\nbody\r\n", client_addr="192.0.2.7")
    assert code == 250
    qid = text.decode().rpartition(" ")[2]
    content = store_for(cfg).read("incoming", qid).content
    assert content == b"Subject: trace\n\nbody\n"  # smtpd's Received header is gone too (P25)


def test_table_lookup_error_is_a_temporary_failure_for_the_client(tmp_path):
    cfg = make_config(tmp_path, f"body_checks = pcre:{tmp_path}/missing\n")
    use_log(tmp_path)
    code, _ = _send(cfg, b"Subject: x\r\n\r\nbody\r\n")
    assert code == 451
    assert "body_checks map lookup problem -- message not accepted, try again later" \
        in read_log(tmp_path)


def test_mail_from_this_host_gets_missing_headers_and_remote_mail_does_not(tmp_path):
    """local_header_rewrite_clients = permit_inet_interfaces (the default): a program on the
    host that speaks SMTP to 127.0.0.1 is a local submitter, as with sendmail: Message-Id,
    Date and From are added and bare names qualified. A remote client's message is stored as
    sent (adding headers could break its signatures)."""
    cfg = make_config(tmp_path, "smtpd_authorized_xclient_hosts = 127.0.0.1\n"
                                "myorigin = example.test\n")
    use_log(tmp_path)
    message = b"To: bob\r\nSubject: hi\r\n\r\nbody\r\n"
    store = store_for(cfg)
    local = store.read("incoming", _send(cfg, message)[1].decode().rpartition(" ")[2]).content
    remote = store.read("incoming", _send(cfg, message, client_addr="192.0.2.7")[1].decode()
                        .rpartition(" ")[2]).content
    assert b"\nTo: bob@example.test\n" in local
    assert re.search(rb"\nMessage-Id: <\d{14}\.\w+@[^>]+>\nDate: .+\nFrom: a@example\.org\n",
                     local)
    assert remote.endswith(b"\nTo: bob\nSubject: hi\n\nbody\n")
    assert b"Message-Id" not in remote and b"Date:" not in remote
    assert re.search(r"cleanup\[\d+\]: \w+: message-id=<\d{14}\.", read_log(tmp_path))
