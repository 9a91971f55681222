"""`affix explain`: the restriction engine's decision for one transaction, with its trace,
the table line that decided, the reply and the log line (DNS from the real fixture)."""

from __future__ import annotations

import asyncio
import json
import shutil

from affix.doctor.explain import Request, explain, format_text
from fixtures.files import RECOMMENDED

MEMO_ARGS = ["--client", "192.168.10.5", "--helo", "pc5", "--sender", "a@example.org",
             "--recipient", "kororo@kororo.jp"]


def _dns(dns_server) -> dict[str, str]:  # noqa: ANN001
    return {"affix_dns_servers": dns_server.main_cf_line().split("=", 1)[1].strip(),
            "affix_dns_timeout": "1s"}


def test_memo_listed_network_rejected_by_reject_client_line(affix, lab, dns_server):
    lab.memo(dns=dns_server)
    r = affix("-c", str(lab.dir), "explain", *MEMO_ARGS, "--format", "json")
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    reply = "554 5.7.1 <unknown[192.168.10.5]>: Client host rejected: Access denied"
    assert data["result"] == "rejected" and data["reply"] == reply
    decided = data["decided_by"]
    assert decided["list"] == "smtpd_client_restrictions"
    assert decided["restriction"] == f"check_client_access hash:{lab.dir}/reject_client"
    assert decided["locations"] == [f"{lab.dir}/reject_client:2: key 192.168.10"]
    assert f"hash:{lab.dir}/reject_client: 192.168.10 = REJECT" in decided["consulted"]
    [stage] = data["stages"]
    assert stage["stage"] == "RCPT"
    assert [line.split("]: ", 1)[1] for line in stage["log"]] == [
        f"NOQUEUE: reject: RCPT from unknown[192.168.10.5]: {reply}; from=<a@example.org> "
        "to=<kororo@kororo.jp> proto=ESMTP helo=<pc5>"]


def test_memo_trace_shows_each_dnsbl_query_in_order(affix, lab, dns_server):
    lab.memo(dns=dns_server)
    r = affix("-c", str(lab.dir), "explain", *MEMO_ARGS, "--format", "json")
    trace = json.loads(r.stdout)["stages"][0]["trace"]
    zones = [t["restriction"].split()[1] for t in trace
             if t["restriction"].startswith("reject_rbl_client")]
    assert zones[0] == "relays.ordb.org" and zones[-1] == "russia.blackholes.us"
    assert len(zones) == 9
    assert trace[1]["consulted"] == ["DNS A 5.10.168.192.relays.ordb.org: not listed"]
    assert dns_server.count("5.10.168.192.relays.ordb.org") >= 1


def test_memo_text_output_names_table_line(affix, lab, dns_server):
    lab.memo(dns=dns_server)
    r = affix("-c", str(lab.dir), "explain", *MEMO_ARGS)
    assert r.returncode == 1
    assert f"at {lab.dir}/reject_client:2: key 192.168.10" in r.stdout
    assert "result: rejected at RCPT by smtpd_client_restrictions: check_client_access" \
        in r.stdout
    assert "log: " in r.stdout and "NOQUEUE: reject: RCPT from unknown[192.168.10.5]" \
        in r.stdout


def test_client_name_looked_up_like_smtpd(lab, dns_server):
    lab.memo(dns=dns_server)
    dns_server.add("5.10.168.192.in-addr.arpa", "PTR", "pc5.example.org")
    dns_server.add("pc5.example.org", "A", "192.168.10.5")
    result = asyncio.run(explain(str(lab.dir), Request("192.168.10.5", "pc5", "a@example.org",
                                                       "kororo@kororo.jp")))
    assert result.client == "pc5.example.org[192.168.10.5]"
    assert result.rejected.reply.startswith("554 5.7.1 <pc5.example.org[192.168.10.5]>")


def test_forged_client_name_warning_logged(lab, dns_server):
    lab.memo(dns=dns_server)
    dns_server.add("5.10.168.192.in-addr.arpa", "PTR", "pc5.example.org")
    dns_server.add("pc5.example.org", "A", "192.0.2.99")
    result = asyncio.run(explain(str(lab.dir), Request("192.168.10.5", "pc5", "a@example.org",
                                                       "kororo@kororo.jp")))
    assert result.client == "unknown[192.168.10.5]"
    assert any("warning: hostname pc5.example.org does not resolve to address 192.168.10.5"
               in line for line in result.log)
    assert "does not resolve" in format_text(result)


def _accepting(lab, dns_server, **extra):  # noqa: ANN001
    dns_server.add("example.org", "MX", "10 mail.example.org")
    dns_server.add("mail.example.org", "A", "192.0.2.7")
    lab.main({**_dns(dns_server), "local_recipient_maps": "inline:{ user@example.com=user }",
              **extra})


def test_clean_transaction_accepted_through_every_stage(affix, lab, dns_server):
    _accepting(lab, dns_server)
    r = affix("-c", str(lab.dir), "explain", "--client", "192.0.2.7", "--name",
              "mail.example.org", "--helo", "mail.example.org", "--sender", "a@example.org",
              "--recipient", "user@example.com", "--size", "2048", "--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["result"] == "accepted" and data["reply"] is None
    assert [s["stage"] for s in data["stages"]] == ["RCPT", "DATA", "END-OF-MESSAGE"]
    rcpt = data["stages"][0]["trace"]
    assert {t["list"] for t in rcpt} >= {"smtpd_client_restrictions",
                                          "smtpd_relay_restrictions"}
    assert "DNS A 7.2.0.192.zen.spamhaus.org: not listed" in [
        c for t in rcpt for c in t["consulted"]]


def test_relay_attempt_rejected_by_relay_list(lab, dns_server):
    _accepting(lab, dns_server)
    result = asyncio.run(explain(str(lab.dir), Request(
        "192.0.2.7", "mail.example.org", "a@example.org", "x@other.example",
        name="mail.example.org")))
    assert result.rejected.reply == "554 5.7.1 <x@other.example>: Relay access denied"
    assert result.deciding_step.record.restriction == "reject_unauth_destination"


def test_delay_reject_no_rejects_at_connect(lab, dns_server):
    lab.table("clients.cidr", "192.0.2.0/24 REJECT go away\n", compile=False)
    _accepting(lab, dns_server, smtpd_delay_reject="no",
               smtpd_client_restrictions="check_client_access cidr:%DIR%/clients.cidr")
    result = asyncio.run(explain(str(lab.dir), Request(
        "192.0.2.7", "mail.example.org", "a@example.org", "user@example.com",
        name="mail.example.org")))
    assert [s.stage for s in result.stages] == ["CONNECT"]
    assert result.rejected.reply == ("554 5.7.1 <mail.example.org[192.0.2.7]>: Client host "
                                     "rejected: go away")
    assert result.deciding_step.locations == (f"{lab.dir}/clients.cidr:1: key 192.0.2.7",)
    assert "reject: CONNECT from mail.example.org[192.0.2.7]" in result.rejected.log[-1]


def test_delay_reject_no_helo_list_at_ehlo(lab, dns_server):
    _accepting(lab, dns_server, smtpd_delay_reject="no")
    result = asyncio.run(explain(str(lab.dir), Request(
        "192.0.2.7", "pc5", "a@example.org", "user@example.com", name="mail.example.org")))
    assert [s.stage for s in result.stages] == ["CONNECT", "EHLO"]
    assert result.rejected.reply == ("504 5.5.2 <pc5>: Helo command rejected: need "
                                     "fully-qualified hostname")


def test_explain_usage_errors_exit_3(affix, lab):
    lab.main()
    r = affix("-c", str(lab.dir), "explain", "--client", "192.0.2.7")
    assert r.returncode == 3 and "missing --helo" in r.stderr
    r = affix("-c", str(lab.dir), "explain", "--client", "999.1.1.1", "--helo", "x",
              "--sender", "a@example.org", "--recipient", "b@example.org")
    assert r.returncode == 3 and "--client 999.1.1.1: not an IPv4 or IPv6 address" in r.stderr


def test_service_option_uses_master_cf_overrides(affix, lab, dns_server):
    _accepting(lab, dns_server)
    shutil.copy(RECOMMENDED / "master.cf", lab.dir / "master.cf")
    args = ["-c", str(lab.dir), "explain", "--client", "192.0.2.7", "--name",
            "mail.example.org", "--helo", "mail.example.org", "--sender", "a@example.org",
            "--recipient", "x@other.example", "--format", "json"]
    port25 = json.loads(affix(*args).stdout)
    submission = json.loads(affix(*args, "--service", "submission").stdout)
    assert port25["reply"] == "554 5.7.1 <x@other.example>: Relay access denied"
    assert submission["decided_by"]["restriction"] == "reject"  # -o smtpd_relay_restrictions
    assert " postfix/submission/smtpd[" in submission["log"][-1]
    lists = {t["list"] for t in submission["stages"][0]["trace"]}
    assert "smtpd_client_restrictions" not in lists  # -o smtpd_client_restrictions= (empty)
    assert "smtpd_client_restrictions" in {t["list"] for t in port25["stages"][0]["trace"]}
    r = affix(*args, "--service", "nosuch")
    assert r.returncode == 3 and 'no inet smtpd service "nosuch"' in r.stderr


def test_explain_says_when_the_server_would_not_start(affix, lab, dns_server):
    lab.memo(dns=dns_server)  # as written: its `//` "comments" are restriction names
    r = affix("-c", str(lab.dir), "explain", *MEMO_ARGS)
    assert r.returncode == 1
    assert "warning: affix would not start with this configuration" in r.stderr
    assert 'unknown smtpd restriction: "//' in r.stderr


def test_explain_takes_addresses_in_brackets_and_refuses_a_size_over_the_limit(affix, lab,
                                                                           dns_server):
    _accepting(lab, dns_server, message_size_limit="1024000")
    args = ["-c", str(lab.dir), "explain", "--client", "192.0.2.7", "--name",
            "mail.example.org", "--helo", "mail.example.org", "--format", "json"]
    r = affix(*args, "--sender", "<a@example.org>", "--recipient", "<user@example.com>")
    assert r.returncode == 0, r.stdout + r.stderr
    r = affix(*args, "--sender", "<>", "--recipient", "user@example.com")
    assert r.returncode == 0, r.stdout + r.stderr
    r = affix(*args, "--sender", "a@example.org", "--recipient", "user@example.com",
              "--size", "2000000")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert data["reply"] == "552 5.3.4 Message size exceeds fixed limit"
    [stage] = data["stages"]
    assert stage["command"] == "MAIL FROM:<a@example.org> SIZE=2000000"
    assert stage["log"][0].endswith(
        "NOQUEUE: reject: MAIL from mail.example.org[192.0.2.7]: 552 5.3.4 Message size exceeds "
        "fixed limit; from=<a@example.org> proto=ESMTP helo=<mail.example.org>")
