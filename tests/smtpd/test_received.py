"""The Received header's shape (smtp-and-logs.md §2), independent of a session."""

from __future__ import annotations

import time

from affix.smtpd.received import received_header, rfc2822_date, with_protocol


def test_date_has_space_padded_day_and_numeric_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        when = time.mktime((2024, 7, 3, 11, 0, 40, 0, 0, -1))
        assert rfc2822_date(when) == "Wed,  3 Jul 2024 11:00:40 +0900 (JST)"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_ipv6_client_and_no_helo():
    header = received_header(None, "unknown", "2001:db8::1", "mx.example.jp", "Postfix",
                             "ESMTPS", "56FE42EB09", ["a@example.jp"], 0)
    assert header.startswith("Received: from unknown (unknown [IPv6:2001:db8::1])\n"
                             "\tby mx.example.jp (Postfix) with ESMTPS id 56FE42EB09\n"
                             "\tfor <a@example.jp>; ")


def test_protocol_words():
    assert with_protocol("ESMTP", True, True, False) == "ESMTPSA"
    assert with_protocol("ESMTP", False, True, True) == "UTF8SMTPA"
    assert with_protocol("SMTP", True, False, False) == "SMTP"
