"""The seed memo's main.cf, as written and fixed, with every control rejecting and passing.

DNSBL answers come from the DNS fixture; tables are the memo's files.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from affix.config.errors import ConfigError
from affix.policy.request import NameStatus, Stage

ZONES = ["relays.ordb.org", "spamcop.net", "dynablock.wirehub.net", "opm.blitzed.org",
         "sbl.spamhaus.org", "list.dsbl.org", "cn-kr.blackholes.us", "brazil.blackholes.us",
         "russia.blackholes.us"]
TOKEN = "//逆引きができないホストの接続を拒否"


def no_comment_token(text: str) -> str:
    """The memo as its author meant it: the `//` text removed."""
    return text.replace(f", {TOKEN}", ",")


def example_org(dns):
    dns.add("example.org", "MX", "10 mail.example.org")
    dns.add("mail.example.org", "A", "192.0.2.7")


# --- as written -------------------------------------------------------------------------------

def test_memo_comment_token_defers_every_verified_outside_client(policy):
    example_org(policy.dns)
    run = policy.check(policy.memo_engine(), Stage.RCPT, policy.session())
    assert run.reply == "451 4.3.5 Server configuration error"
    assert f'warning: unknown smtpd restriction: "{TOKEN}"' in run.lines("warning")


@pytest.mark.parametrize("zone", ZONES)
def test_memo_each_dnsbl_zone_rejects_a_listed_client(policy, zone):
    policy.dns.add(f"7.2.0.192.{zone}", "A", "127.0.0.2")
    run = policy.check(policy.memo_engine(), Stage.RCPT, policy.session())
    assert run.reply == ("554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked "
                         f"using {zone}")


def test_memo_dead_zone_that_lists_the_world_rejects_everyone(policy):
    """pitfalls P03: a zone answering every query positively rejects all mail."""
    for addr in ("192.0.2.7", "198.51.100.20"):
        rev = ".".join(reversed(addr.split(".")))
        policy.dns.add(f"{rev}.russia.blackholes.us", "A", "127.0.0.2")
        run = policy.check(policy.memo_engine(), Stage.RCPT, policy.session(client_addr=addr))
        assert run.reply.startswith("554 5.7.1 Service unavailable; Client host")


def test_memo_mynetworks_client_passes_client_list_even_when_listed(policy):
    policy.dns.add("1.0.0.127.relays.ordb.org", "A", "127.0.0.2")
    example_org(policy.dns)
    run = policy.check(policy.memo_engine(), Stage.RCPT,
                       policy.session(client_addr="127.0.0.1", client_name="localhost"))
    assert run.reply is None


@pytest.mark.parametrize("addr", ["192.168.0.100", "192.168.10.5"])
def test_memo_reject_client_table_rejects_address_and_partial_network(policy, addr):
    run = policy.check(policy.memo_engine(), Stage.RCPT,
                       policy.session(client_addr=addr, client_name="pc.example.org"))
    assert run.reply == (f"554 5.7.1 <pc.example.org[{addr}]>: Client host rejected: "
                         "Access denied")


def test_memo_reject_client_table_lets_other_addresses_through(policy):
    example_org(policy.dns)
    engine = policy.memo_engine(edit=no_comment_token)
    run = policy.check(engine, Stage.RCPT, policy.session(client_addr="192.168.11.5"))
    assert run.reply is None


def test_memo_reject_unknown_client_rejects_client_without_confirmed_name(policy):
    run = policy.check(policy.memo_engine(), Stage.RCPT, policy.session(
        client_addr="198.51.100.9", client_name="unknown", name_status=NameStatus.FORGED))
    assert run.reply == ("450 4.7.25 Client host rejected: cannot find your hostname, "
                         "[198.51.100.9]")
    assert ('warning: restriction "reject_unknown_client" is an obsolete name; use '
            '"reject_unknown_client_hostname" instead') in run.lines("warning")


@pytest.mark.parametrize("sender, reply", [
    ("spam@spam.com", "554 5.7.1 <spam@spam.com>: Sender address rejected: Access denied"),
    ("x@mail.spam.org", "554 5.7.1 <x@mail.spam.org>: Sender address rejected: Access denied"),
    ("a@nx.example", "450 4.1.8 <a@nx.example>: Sender address rejected: Domain not found"),
    ("a@localhost",
     "504 5.5.2 <a@localhost>: Sender address rejected: need fully-qualified address"),
    ("a@example.org", None),
    ("", None),  # the null sender skips these restrictions
])
def test_memo_sender_controls(policy, sender, reply):
    example_org(policy.dns)
    run = policy.check(policy.memo_engine(), Stage.RCPT, policy.session(
        client_addr="127.0.0.1", client_name="localhost", sender=sender))
    assert run.reply == reply


@pytest.mark.parametrize("helo, records, reply", [
    # pitfalls P11/P12: ok-ips has the client's address, but check_helo_access looks up the
    # HELO name, so the memo's own log line still happens.
    ("alor.aaa.jp", [], "450 4.7.1 <alor.aaa.jp>: Helo command rejected: Host not found"),
    ("203.0.113.30", [], None),  # a client that literally says HELO 203.0.113.30
    ("[203.0.113.30]", [], None),  # the literal is valid, and is not looked up in DNS
    ("bad_helo!", [], "501 5.5.2 <bad_helo!>: Helo command rejected: Invalid name"),
    # a HELO name is ASCII, SMTPUTF8 or not (Postfix 3.7 gives the same reply)
    ("exämple.org", [("exämple.org", "A", "203.0.113.30")],
     "501 5.5.2 <exämple.org>: Helo command rejected: Invalid name"),
    ("pc5", [("pc5", "A", "203.0.113.30")],
     "504 5.5.2 <pc5>: Helo command rejected: need fully-qualified hostname"),
    ("proxy.aaa.jp", [("proxy.aaa.jp", "A", "203.0.113.30")], None),
])
def test_memo_helo_controls(policy, helo, records, reply):
    for record in records:
        policy.dns.add(*record)
    policy.dns.add("aaa.jp", "MX", "10 proxy.aaa.jp")
    engine = policy.memo_engine(edit=no_comment_token)
    run = policy.check(engine, Stage.RCPT, policy.session(
        client_addr="203.0.113.30", client_name="proxy.aaa.jp", helo=helo,
        sender="info@aaa.jp"))
    assert run.reply == reply


def test_memo_helo_log_line_is_the_modern_form_of_the_memo_line(policy):
    """pitfalls P18: NOQUEUE and the enhanced status code, which fail2ban needs."""
    policy.dns.add("aaa.jp", "MX", "10 proxy.aaa.jp")
    engine = policy.memo_engine(edit=no_comment_token)
    run = policy.check(engine, Stage.RCPT, policy.session(
        client_addr="203.0.113.30", client_name="proxy.aaa.jp", helo="alor.aaa.jp",
        sender="info@aaa.jp"))
    assert run.lines("reject:") == [
        "NOQUEUE: reject: RCPT from proxy.aaa.jp[203.0.113.30]: 450 4.7.1 <alor.aaa.jp>: "
        "Helo command rejected: Host not found; from=<info@aaa.jp> to=<kororo@kororo.jp> "
        "proto=ESMTP helo=<alor.aaa.jp>"]


# --- Postfix 1 form ---------------------------------------------------------------------------

def test_memo_postfix1_form_is_fatal_at_compatibility_level_0(policy):
    engine = policy.memo_engine("main-postfix1.cf")
    with pytest.raises(ConfigError) as err:
        engine.startup_check()
    assert "specify at least one working instance of: reject_unauth_destination" in str(err.value)


def test_memo_reject_maps_rbl_still_works_and_warns_once(policy):
    policy.dns.add("7.2.0.192.relays.ordb.org", "A", "127.0.0.2")
    engine = policy.memo_engine(
        "main-postfix1.cf", edit=lambda t: "compatibility_level = 3.7\n" + t)
    engine.startup_check()  # the level-1 default relay restrictions block relaying
    local = policy.session(recipient="kororo@mx.kororo.jp")  # $myhostname: a local domain
    first = policy.check(engine, Stage.RCPT, local)
    second = policy.check(engine, Stage.RCPT, local)
    assert first.reply == second.reply == (
        "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using relays.ordb.org")
    text = ('warning: support for restriction "reject_maps_rbl" will be removed from Postfix; '
            'use "reject_rbl_client domain-name" instead')
    assert first.lines("warning") == [text]
    assert second.lines("warning") == []


# --- fixed --------------------------------------------------------------------------------------

@pytest.mark.parametrize("facts, records, reply", [
    (dict(), [("7.2.0.192.zen.spamhaus.org", "A", "127.0.0.4")],
     "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org"),
    # pitfalls P05: Spamhaus's error code for open resolvers is filtered out.
    (dict(), [("7.2.0.192.zen.spamhaus.org", "A", "127.255.255.254")], None),
    (dict(), [("7.2.0.192.bl.spamcop.net", "A", "127.0.0.2")],
     "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using bl.spamcop.net"),
    (dict(client_addr="192.168.10.5"), [],
     "554 5.7.1 <mail.example.org[192.168.10.5]>: Client host rejected: Access denied"),
    (dict(client_name="unknown", name_status=NameStatus.FORGED), [],
     "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.7]"),
    (dict(client_addr="203.0.113.30", helo="alor.aaa.jp"), [], None),  # ok-ips exception
    (dict(helo="alor.aaa.jp"), [],
     "450 4.7.1 <alor.aaa.jp>: Helo command rejected: Host not found"),
    (dict(sender="a@localhost"), [],
     "504 5.5.2 <a@localhost>: Sender address rejected: need fully-qualified address"),
    (dict(sender="spam@spam.com"), [],
     "554 5.7.1 <spam@spam.com>: Sender address rejected: Access denied"),
    (dict(recipient="x@other.example"), [],
     "554 5.7.1 <x@other.example>: Relay access denied"),
    (dict(client_addr="127.0.0.1", recipient="x@other.example"), [], None),
    (dict(), [], None),
])
def test_memo_fixed_controls(policy, facts, records, reply):
    example_org(policy.dns)
    for record in records:
        policy.dns.add(*record)
    engine = policy.memo_engine("main-fixed.cf")
    engine.startup_check()
    run = policy.check(engine, Stage.RCPT, policy.session(**facts))
    assert run.reply == reply


# --- fail2ban ---------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("fail2ban-regex") is None, reason="fail2ban not installed")
def test_fail2ban_stock_postfix_filter_matches_affix_reject_lines(policy, tmp_path):
    example_org(policy.dns)
    policy.dns.add("7.2.0.192.bl.spamcop.net", "A", "127.0.0.2")
    fixed = policy.memo_engine("main-fixed.cf")
    matching = [  # (session facts) whose reject lines the filter must count
        dict(),  # DNSBL
        dict(client_addr="192.0.2.8", helo="alor.aaa.jp"),  # Helo: Host not found
        dict(client_addr="192.0.2.9", client_name="unknown", name_status=NameStatus.FORGED),
        dict(client_addr="192.0.2.10", sender="a@nx.example"),  # Domain not found
        dict(client_addr="192.0.2.11", recipient="x@other.example"),  # Relay access denied
        dict(client_addr="192.0.2.12", recipient="nobody@kororo.jp"),  # User unknown
        dict(client_addr="192.168.10.5"),  # Client host rejected: Access denied
    ]
    runs = [policy.check(fixed, Stage.RCPT, policy.session(**facts)) for facts in matching]
    assert all(run.reply for run in runs)
    logfile = tmp_path / "mail.log"
    logfile.write_text("".join(line + "\n" for run in runs for line in run.log
                               if ": reject: " in line))
    out = subprocess.run(["fail2ban-regex", str(logfile), "/etc/fail2ban/filter.d/postfix.conf"],
                         capture_output=True, text=True, timeout=120)
    assert f"Lines: {len(matching)} lines, 0 ignored, {len(matching)} matched" in out.stdout, \
        out.stdout
