"""The admin memo's main.cf (tests/fixtures/memo/main.cf) run by the real server and talked to
over SMTP: every control it sets, rejecting and letting through, with the reply on the wire
and the line in the mail log, then fail2ban's stock filter over that log.

The server is `affix -c DIR start-fg` with the memo's tables (compiled with `affix map`), the
DNS fixture as its resolver, and `smtpd_authorized_xclient_hosts = 127.0.0.1`, so the test
plays any client with XCLIENT (address, name) and EHLO. "Modern" is the memo with only what
made it broken or outdated changed (MODERNIZE); the last test runs it exactly as written.
"""

from __future__ import annotations

import re
import shutil
import smtplib
import subprocess
from pathlib import Path

import pytest
from e2e_helpers import USER, AffixServer

from fixtures.files import copy_memo_tables, memo_main_cf
from fixtures.net import wait_for

TOKEN = "//逆引きができないホストの接続を拒否"
ZONES = ["relays.ordb.org", "spamcop.net", "dynablock.wirehub.net", "opm.blitzed.org",
         "sbl.spamhaus.org", "list.dsbl.org", "cn-kr.blackholes.us", "brazil.blackholes.us",
         "russia.blackholes.us"]
MODERNIZE = [  # (as written, today's form): pitfalls P01, P02, P08, P13
    (f", {TOKEN}", ","),  # "//" is not a comment
    ("russia.blackholes.us\n", "russia.blackholes.us,\n"),
    ("reject_unknown_client,", "reject_unknown_client_hostname,"),
    ("reject_invalid_hostname,", "reject_invalid_helo_hostname,"),
    ("reject_unknown_hostname,", "reject_unknown_helo_hostname,"),
    ("reject_non_fqdn_hostname,", "reject_non_fqdn_helo_hostname,"),
    ("   hash:/etc/postfix/reject_sender\n",
     "   check_sender_access hash:/etc/postfix/reject_sender,\n"),
]
RCPT = "kororo@kororo.jp"
LISTED = {zone: f"192.0.2.{101 + i}" for i, zone in enumerate(ZONES)}
SBL_TXT = "https://www.spamhaus.org/sbl/query/SBL1"


def modern(text: str) -> str:
    for old, new in MODERNIZE:
        assert old in text, old
        text = text.replace(old, new)
    return text


def reverse(addr: str) -> str:
    return ".".join(reversed(addr.split(".")))


def populate(dns) -> None:
    """The Internet these tests see (one DNS world for the module: the server caches)."""
    dns.add("example.org", "MX", "10 mail.example.org")
    dns.add("mail.example.org", "A", "192.0.2.7")
    dns.add("aaa.jp", "MX", "10 proxy.aaa.jp")
    dns.add("proxy.aaa.jp", "A", "203.0.113.30")
    dns.add("pc5", "A", "192.0.2.50")  # resolves, but is no FQDN
    for zone, addr in LISTED.items():
        dns.add(f"{reverse(addr)}.{zone}", "A", "127.0.0.2")
    dns.add(f"{reverse(LISTED['sbl.spamhaus.org'])}.sbl.spamhaus.org", "TXT", SBL_TXT)


def memo_server(root: Path, dns, edit=modern) -> AffixServer:
    """The memo's main.cf (edited), its /etc/postfix tables in DIR, plus the test harness:
    directories under tmp, the DNS fixture, XCLIENT from loopback, kororo's mail to USER."""
    etc = root / "etc"
    etc.mkdir(parents=True)
    text = memo_main_cf(etc, edit=edit)
    text = text.replace("alias_maps =\n", f"alias_maps = inline:{{ kororo={USER} }}\n")
    harness = [f"queue_directory = {root}/queue", f"data_directory = {root}/data",
               f"mail_spool_directory = {root}/mail/", f"maillog_file = {root}/maillog",
               "smtpd_authorized_xclient_hosts = 127.0.0.1", dns.main_cf_line(),
               "affix_dns_timeout = 1s", "smtpd_error_sleep_time = 0"]
    server = AffixServer(root, text + "\n# test harness\n" + "\n".join(harness) + "\n",
                         base=False)
    for table in copy_memo_tables(etc, compile=False):
        done = server.affix("map", f"hash:{table}")
        assert done.returncode == 0, done.stderr
    return server


@pytest.fixture(scope="module")
def world(_dns_server_session):
    _dns_server_session.clear()
    populate(_dns_server_session)
    yield _dns_server_session
    _dns_server_session.clear()


@pytest.fixture(scope="module")
def mx(world, tmp_path_factory):
    server = memo_server(tmp_path_factory.mktemp("memo"), world).start()
    yield server
    server.kill()


# --- a client, played with XCLIENT --------------------------------------------------------------

def text(reply: tuple[int, bytes]) -> str:
    return f"{reply[0]} {reply[1].decode()}"


def dialog(server: AffixServer, addr: str = "192.0.2.7", name: str = "mail.example.org",
           helo: str | None = "mail.example.org", sender: str = "a@example.org",
           rcpt: str = RCPT, content: bytes | None = None, mail_args: str = "") -> dict:
    """One transaction as client NAME[ADDR]; the replies by stage (stages after a refusal
    are not tried)."""
    out: dict[str, str] = {}
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo("localhost")
        out["xclient"] = text(s.docmd("XCLIENT", f"ADDR={addr} NAME={name}"))
        if helo is not None:
            out["ehlo"] = text(s.ehlo(helo))
        out["mail"] = text(s.docmd("MAIL", f"FROM:<{sender}>{mail_args}"))
        if out["mail"].startswith("250"):
            out["rcpt"] = text(s.docmd("RCPT", f"TO:<{rcpt}>"))
        if content is not None and out.get("rcpt", "").startswith("250"):
            try:
                out["data"] = text(s.data(content))
            except smtplib.SMTPDataError as e:
                out["data"] = f"{e.smtp_code} {e.smtp_error.decode()}"
    return out


def reject_line(client: str, reply: str, sender: str = "a@example.org", rcpt: str = RCPT,
                helo: str = "mail.example.org", verb: str = "RCPT") -> str:
    """The smtpd log line for a restriction's reject (restrictions.md §8)."""
    to = f" to=<{rcpt}>" if verb == "RCPT" else ""
    return (f"NOQUEUE: reject: {verb} from {client}: {reply}; from=<{sender}>{to} "
            f"proto=ESMTP helo=<{helo}>")


def logged(server: AffixServer, line: str) -> str:
    """Wait for an smtpd line ending in `line`; returns the whole line."""
    (found,) = server.wait_log(rf"postfix/smtpd\[\d+\]: {re.escape(line)}$")
    return found


def accepted(replies: dict) -> bool:
    return replies.get("rcpt", "") == "250 2.1.5 Ok"


# --- the controls ---------------------------------------------------------------------------------

def test_banner_has_no_version_and_vrfy_is_disabled(mx):
    with smtplib.SMTP("127.0.0.1", mx.port, timeout=10) as s:
        code, ehlo = s.ehlo("localhost")
        assert b"VRFY" not in ehlo.split(b"\n")
        assert text(s.docmd("VRFY", "kororo")) == "502 5.5.1 VRFY command is disabled"
        assert text(s.docmd("EXPN", "kororo")) == "500 5.5.2 Error: command not recognized"
        s.docmd("XCLIENT", "ADDR=192.0.2.201 NAME=vrfy.example.org")  # name the session
    assert mx.wait_log(r"disconnect from vrfy\.example\.org\[192\.0\.2\.201\]")
    greeting = subprocess.run(["swaks", "--server", f"127.0.0.1:{mx.port}", "--quit-after",
                               "CONNECT"], capture_output=True, text=True, timeout=30).stdout
    assert "<-  220 mx.kororo.jp ESMTP affix\n" in greeting  # $myhostname ESMTP $mail_name
    assert not re.search(r"\d+\.\d+\.\d+", greeting.split("<-  220")[1].splitlines()[0])


def test_vrfy_attempt_is_counted_as_failed_in_the_disconnect_line(mx):
    with smtplib.SMTP("127.0.0.1", mx.port, timeout=10) as s:
        s.docmd("XCLIENT", "ADDR=192.0.2.202 NAME=vrfy2.example.org")
        s.ehlo("vrfy2.example.org")
        s.docmd("VRFY", "kororo")
    logged(mx, "disconnect from vrfy2.example.org[192.0.2.202] ehlo=1 xclient=1 vrfy=0/1 "
               "quit=1 commands=3/4")  # counters in Postfix's order, not the client's


@pytest.mark.parametrize("zone", ZONES)
def test_each_dnsbl_zone_rejects_a_listed_client_with_554(mx, zone):
    addr = LISTED[zone]
    replies = dialog(mx, addr=addr)
    reply = f"554 5.7.1 Service unavailable; Client host [{addr}] blocked using {zone}"
    if zone == "sbl.spamhaus.org":
        reply += f"; {SBL_TXT}"  # the zone's TXT record follows
    assert replies["rcpt"] == reply
    logged(mx, reject_line(f"mail.example.org[{addr}]", reply))


def test_dnsbl_unlisted_client_passes_with_swaks(mx):
    done = mx.swaks("--xclient-addr", "192.0.2.7", "--xclient-name", "mail.example.org",
                    "--helo", "mail.example.org", "--from", "a@example.org", "--to", RCPT,
                    "--header", "Message-Id: <unlisted@example.org>")
    assert done.returncode == 0, done.stdout
    assert "<-  250 2.1.5 Ok" in done.stdout
    assert re.search(r"<-  250 2\.0\.0 Ok: queued as \w+", done.stdout)


@pytest.mark.parametrize("addr", ["192.168.0.100", "192.168.10.5"])
def test_reject_client_table_rejects_the_address_and_the_partial_network(mx, addr):
    replies = dialog(mx, addr=addr, name="pc.example.org")
    reply = f"554 5.7.1 <pc.example.org[{addr}]>: Client host rejected: Access denied"
    assert replies["rcpt"] == reply
    logged(mx, reject_line(f"pc.example.org[{addr}]", reply))


def test_reject_client_table_lets_a_neighbour_network_through(mx):
    assert accepted(dialog(mx, addr="192.168.11.5", name="pc.example.org"))


def test_client_without_verified_name_is_rejected_450(mx):
    replies = dialog(mx, addr="198.51.100.9", name="[UNAVAILABLE]")
    reply = "450 4.7.25 Client host rejected: cannot find your hostname, [198.51.100.9]"
    assert replies["rcpt"] == reply
    logged(mx, reject_line("unknown[198.51.100.9]", reply))


@pytest.mark.parametrize("sender", ["spam@spam.com", "x@spam.org", "x@x.spam.org"])
def test_reject_sender_table_rejects_address_domain_and_subdomain(mx, sender):
    addr = {"spam@spam.com": "192.0.2.31", "x@spam.org": "192.0.2.32"}.get(sender, "192.0.2.33")
    replies = dialog(mx, addr=addr, sender=sender)
    assert replies["mail"] == "250 2.1.0 Ok"  # smtpd_delay_reject: the reject comes at RCPT
    reply = f"554 5.7.1 <{sender}>: Sender address rejected: Access denied"
    assert replies["rcpt"] == reply
    logged(mx, reject_line(f"mail.example.org[{addr}]", reply, sender=sender))


def test_reject_sender_table_lets_other_spam_addresses_through(mx):
    """`spam@spam.com` is an address entry: another user at spam.com is not listed (but
    spam.com must then exist in DNS, which the fixture says it does not)."""
    replies = dialog(mx, addr="192.0.2.34", sender="info@spam.com")
    reply = "450 4.1.8 <info@spam.com>: Sender address rejected: Domain not found"
    assert replies["rcpt"] == reply


def test_unknown_sender_domain_is_rejected_450(mx):
    replies = dialog(mx, addr="192.0.2.35", sender="a@nx.example")
    reply = "450 4.1.8 <a@nx.example>: Sender address rejected: Domain not found"
    assert replies["rcpt"] == reply
    logged(mx, reject_line("mail.example.org[192.0.2.35]", reply, sender="a@nx.example"))


def test_non_fqdn_sender_is_rejected_504(mx):
    """The memo's order runs reject_unknown_sender_domain first (P13): `pc5` must resolve for
    reject_non_fqdn_sender to be reached."""
    replies = dialog(mx, addr="192.0.2.36", sender="a@pc5")
    reply = "504 5.5.2 <a@pc5>: Sender address rejected: need fully-qualified address"
    assert replies["rcpt"] == reply
    logged(mx, reject_line("mail.example.org[192.0.2.36]", reply, sender="a@pc5"))


def test_helo_is_required_before_mail(mx):
    replies = dialog(mx, addr="192.0.2.37", helo=None)
    assert replies["mail"] == "503 5.5.1 Error: send HELO/EHLO first"
    # The EHLO before XCLIENT counts, but XCLIENT starts the session over, HELO included.
    line = logged(mx, "disconnect from mail.example.org[192.0.2.37] ehlo=1 xclient=1 mail=0/1 "
                      "quit=1 commands=3/4")
    assert "reject" not in line and not mx.log_lines(r"reject: MAIL from \S+\[192\.0\.2\.37\]")


def test_memo_helo_line_host_not_found_at_rcpt(mx):
    """The memo's own log line, in today's form: NOQUEUE and the enhanced status code (P18).
    ok-ips holds the client's address, but check_helo_access looks up the HELO name (P11)."""
    replies = dialog(mx, addr="203.0.113.30", name="proxy.aaa.jp", helo="alor.aaa.jp",
                     sender="info@aaa.jp")
    assert replies["ehlo"].startswith("250") and replies["mail"] == "250 2.1.0 Ok"
    reply = "450 4.7.1 <alor.aaa.jp>: Helo command rejected: Host not found"
    assert replies["rcpt"] == reply
    line = logged(mx, "NOQUEUE: reject: RCPT from proxy.aaa.jp[203.0.113.30]: 450 4.7.1 "
                      "<alor.aaa.jp>: Helo command rejected: Host not found; from=<info@aaa.jp> "
                      "to=<kororo@kororo.jp> proto=ESMTP helo=<alor.aaa.jp>")
    assert re.match(r"[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \S+ postfix/smtpd\[\d+\]: ", line)


def test_ok_ips_exempts_a_client_that_says_helo_with_that_address(mx):
    assert accepted(dialog(mx, addr="203.0.113.30", name="proxy.aaa.jp",
                           helo="203.0.113.30", sender="info@aaa.jp"))


def test_invalid_helo_is_rejected_501(mx):
    replies = dialog(mx, addr="192.0.2.38", helo="bad_helo!")
    reply = "501 5.5.2 <bad_helo!>: Helo command rejected: Invalid name"
    assert replies["rcpt"] == reply
    logged(mx, reject_line("mail.example.org[192.0.2.38]", reply, helo="bad_helo!"))


def test_non_fqdn_helo_is_rejected_504(mx):
    replies = dialog(mx, addr="192.0.2.39", helo="pc5")
    reply = "504 5.5.2 <pc5>: Helo command rejected: need fully-qualified hostname"
    assert replies["rcpt"] == reply
    logged(mx, reject_line("mail.example.org[192.0.2.39]", reply, helo="pc5"))


def test_message_size_limit_at_mail_size(mx):
    replies = dialog(mx, addr="192.0.2.40", mail_args=" SIZE=2000000")
    reply = "552 5.3.4 Message size exceeds fixed limit"
    assert replies["mail"] == reply
    logged(mx, reject_line("mail.example.org[192.0.2.40]", reply, verb="MAIL"))


def test_message_size_limit_at_end_of_data(mx):
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 1100  # 1.1 MB > 1024000
    replies = dialog(mx, addr="192.0.2.41", content=big)
    assert replies["data"] == "552 5.3.4 Error: message file too big"
    (line,) = mx.wait_log(r"warning: \w+: queue file size limit exceeded")
    qid = line.split("warning: ")[1].split(":")[0]
    assert mx.log_lines(rf"{qid}: client=mail\.example\.org\[192\.0\.2\.41\]")
    assert not mx.log_lines(rf"{qid}: to=")


def test_received_headers_are_ignored_but_hops_still_counted(mx):
    """header_checks `/^Received:/ IGNORE` (P25): the delivered message has no Received
    header at all, not even this server's; the hop count still sees them (50 rejects)."""
    hops = "".join(f"Received: from hop{n}.example.org by relay.example.org\r\n"
                   for n in range(48))
    msg = (f"Message-Id: <hops@example.org>\r\nSubject: hops\r\n{hops}\r\nbody\r\n").encode()
    assert dialog(mx, addr="192.0.2.42", content=msg)["data"].startswith("250 2.0.0 Ok")
    path = wait_for(lambda: [p for p in mx.maildir() if b"<hops@example.org>" in p.read_bytes()],
                    what="the delivered message")[0]
    header = path.read_bytes().split(b"\n\n", 1)[0]
    assert b"\nReceived:" not in header and not header.startswith(b"Received:")
    assert b"Delivered-To: kororo@kororo.jp" in header

    too_many = ("Received: from hop.example.org by relay.example.org\r\n" * 49).encode()
    replies = dialog(mx, addr="192.0.2.43", content=too_many + b"Subject: loop\r\n\r\nx\r\n")
    assert replies["data"] == "554 5.4.0 Error: too many hops"  # 49 + this server's = 50


# --- fail2ban ------------------------------------------------------------------------------------

# smtp-and-logs.md §5: what the stock filter (mode "more") is meant to catch in a reject line.
F2B_VERB = re.compile(r"^[A-Z]{4}$")
F2B_CODE = re.compile(r"^[45][50][04]$")
F2B_REASONS = ("Service unavailable", "Client host rejected", "Command rejected",
               "Data command rejected", "Relay access denied", "Host not found",
               "Domain not found", "need fully-qualified hostname", "match", "User unknown",
               "Undeliverable address")
REJECT = re.compile(r"\]: \w+: reject: (\S+) from [^\[]*\[[^\]]+\]: (\d{3}) (\S+) (.*?); ")


def meant_for_fail2ban(line: str) -> bool:
    m = REJECT.search(line)
    if not m:
        return False
    verb, code, dsn, reason = m.groups()
    if not (F2B_VERB.match(verb) and F2B_CODE.match(code) and re.match(r"[45]\.\d\.\d+$", dsn)):
        return False
    reason = re.sub(r"^<[^>]*>: ", "", reason)
    reason = re.sub(r"^(Helo command|Sender address|Recipient address) rejected: ", "", reason)
    return reason.startswith(F2B_REASONS)


@pytest.mark.skipif(shutil.which("fail2ban-regex") is None, reason="fail2ban not installed")
def test_fail2ban_stock_filter_counts_the_reject_lines_it_is_meant_to(mx):
    for zone in ("spamcop.net", "russia.blackholes.us"):  # rejects of its own, if run alone
        dialog(mx, addr=LISTED[zone])
    dialog(mx, addr="192.0.2.44", helo="bad_helo!")
    dialog(mx, addr="192.0.2.45", mail_args=" SIZE=2000000")
    lines = mx.wait_log(r"reject: MAIL from mail\.example\.org\[192\.0\.2\.45\]")
    rejects = mx.log_lines(r": reject: ")
    expected = sum(meant_for_fail2ban(line) for line in rejects)
    assert lines and expected >= 2 and expected < len(rejects)  # 501 and 552 are not caught
    done = subprocess.run(["fail2ban-regex", str(mx.maillog),
                           "/etc/fail2ban/filter.d/postfix.conf"],
                          capture_output=True, text=True, timeout=120)
    m = re.search(r"^Lines: (\d+) lines, (\d+) ignored, (\d+) matched", done.stdout, re.M)
    assert m, done.stdout
    assert int(m.group(3)) == expected, done.stdout


# --- as written ----------------------------------------------------------------------------------

def test_memo_as_written_is_refused_at_the_line_of_its_comment(world, tmp_path):
    """The `//` text is a restriction name nobody knows (P01). Postfix would run and answer
    451 4.3.5 to every client outside mynetworks; affix refuses to start and names the line,
    and `affix explain` shows the 451 such a server would give."""
    server = memo_server(tmp_path / "as-written", world, edit=lambda t: t)
    problem = f'smtpd_client_restrictions: unknown smtpd restriction: "{TOKEN}"'
    check = server.affix("check")
    assert check.returncode == 1
    lines = (tmp_path / "as-written" / "etc" / "main.cf").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if TOKEN in text)  # not the list's first
    assert f"main.cf:{line}: {problem}" in check.stdout + check.stderr
    start = server.affix("start")
    assert start.returncode == 1 and problem in start.stdout + start.stderr
    explain = server.affix("explain", "--client", "192.0.2.7", "--name", "mail.example.org",
                           "--helo", "mail.example.org", "--sender", "a@example.org",
                           "--recipient", RCPT)
    assert "451 4.3.5 Server configuration error" in explain.stdout, explain.stdout
