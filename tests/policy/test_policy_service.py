"""check_policy_service against a tiny real policy server on loopback (SMTPD_POLICY_README)."""

from __future__ import annotations

import asyncio

from affix.policy.request import Stage

ISOLATED = "smtpd_relay_restrictions =\nsmtpd_reject_unlisted_recipient = no\n"


class PolicyServer:
    """Answers each request with `action=` from `decide(attributes)`; counts connections."""

    def __init__(self, decide):
        self.decide = decide
        self.connections = 0
        self.requests: list[dict[str, str]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.connections += 1
        attrs: dict[str, str] = {}
        while line := await reader.readline():
            text = line.decode().rstrip("\n")
            if text:
                name, _, value = text.partition("=")
                attrs[name] = value
                continue
            self.requests.append(attrs)
            action = self.decide(attrs)
            if action is not None:
                writer.write(f"action={action}\n\n".encode())
                await writer.drain()
            attrs = {}
        writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self.server.close()


def decide(attrs):
    if attrs["recipient"].startswith("blocked@"):
        return "REJECT 5.7.1 blocked by policy"
    if attrs["recipient"].startswith("silent@"):
        return None  # never answers
    return "DUNNO"


def test_policy_service_rejects_permits_and_reuses_the_connection(policy):
    async def scenario():
        async with PolicyServer(decide) as server:
            engine = policy.engine(
                ISOLATED + "smtpd_recipient_restrictions = "
                f"check_policy_service inet:127.0.0.1:{server.port}, permit")
            blocked = await policy.acheck(engine, Stage.RCPT,
                                          policy.session(recipient="blocked@kororo.jp"))
            passed = await policy.acheck(engine, Stage.RCPT, policy.session())
            await engine.close()
            return server, blocked, passed

    server, blocked, passed = asyncio.run(scenario())
    assert blocked.reply == ("554 5.7.1 <blocked@kororo.jp>: Recipient address rejected: "
                             "blocked by policy")
    assert passed.reply is None
    assert server.connections == 1 and len(server.requests) == 2
    first = server.requests[0]
    assert first["request"] == "smtpd_access_policy"
    assert (first["protocol_state"], first["client_address"], first["sender"],
            first["helo_name"]) == ("RCPT", "192.0.2.7", "a@example.org", "mail.example.org")


def test_policy_service_timeout_uses_the_default_action(policy):
    async def scenario():
        async with PolicyServer(decide) as server:
            engine = policy.engine(
                ISOLATED + "smtpd_policy_service_timeout = 1s\n"
                "smtpd_policy_service_try_limit = 1\n"
                f"smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:"
                f"{server.port}")
            run = await policy.acheck(engine, Stage.RCPT,
                                      policy.session(recipient="silent@kororo.jp"))
            await engine.close()
            return run, server.port

    run, port = asyncio.run(scenario())
    assert run.reply == ("451 4.3.5 <silent@kororo.jp>: Recipient address rejected: "
                         "Server configuration problem")
    assert any(line.endswith(f"problem talking to server 127.0.0.1:{port}: Connection timed "
                             "out") for line in run.lines("warning"))


def test_policy_service_unreachable_with_per_service_default_action(policy, tmp_path):
    sock = tmp_path / "nobody-listens"
    run = policy.rcpt(ISOLATED + "smtpd_policy_service_retry_delay = 0s\n"
                      "smtpd_recipient_restrictions = check_policy_service "
                      f"{{ unix:{sock}, default_action=DUNNO }}, reject")
    assert run.reply.startswith("554 5.7.1 <kororo@kororo.jp>")  # DUNNO, then reject
    # as Postfix words them: the socket by its path, the reason as the system says it
    warnings = run.lines("warning")
    assert any(line.endswith(f"connect to {sock}: No such file or directory")
               for line in warnings)
    assert any(line.endswith(f"problem talking to server {sock}: No such file or directory")
               for line in warnings)


def test_policy_service_over_unix_socket(policy, tmp_path):
    path = str(tmp_path / "policy.sock")

    async def scenario():
        server = PolicyServer(lambda attrs: "DEFER_IF_PERMIT later please")
        srv = await asyncio.start_unix_server(server.handle, path)
        engine = policy.engine(ISOLATED + f"smtpd_recipient_restrictions = "
                                          f"check_policy_service unix:{path}")
        run = await policy.acheck(engine, Stage.RCPT, policy.session())
        await engine.close()
        srv.close()
        return run

    run = asyncio.run(scenario())
    assert run.reply == "450 4.7.1 <kororo@kororo.jp>: Recipient address rejected: later please"


def test_policy_requests_carry_tls_and_server_facts_and_a_new_instance_per_message(policy):
    async def scenario():
        async with PolicyServer(lambda attrs: "DUNNO") as server:
            engine = policy.engine(
                ISOLATED + "smtpd_recipient_restrictions = "
                f"check_policy_service inet:127.0.0.1:{server.port}, permit")
            state = policy.session(tls_active=True, tls_protocol="TLSv1.3",
                                   tls_cipher="TLS_AES_256_GCM_SHA384", tls_bits=256,
                                   server_addr="192.0.2.25", server_port=25, transactions=1)
            await policy.acheck(engine, Stage.RCPT, state)
            await policy.acheck(engine, Stage.RCPT, state)  # the same message: same instance
            state.transactions += 1  # smtpd: the next MAIL of the session
            await policy.acheck(engine, Stage.RCPT, state)
            await engine.close()
            return server

    first, again, next_message = asyncio.run(scenario()).requests
    assert {k: first[k] for k in ("encryption_protocol", "encryption_cipher",
                                  "encryption_keysize", "ccert_subject", "server_address",
                                  "server_port")} == {
        "encryption_protocol": "TLSv1.3", "encryption_cipher": "TLS_AES_256_GCM_SHA384",
        "encryption_keysize": "256", "ccert_subject": "", "server_address": "192.0.2.25",
        "server_port": "25"}
    assert first["instance"] == again["instance"] != next_message["instance"]


def test_policy_answers_without_action_and_braced_options(policy):
    """An answer without `action=` is Postfix's `missing attribute action` (each try), then
    an application error; `{ name = value }` carries a default action with spaces."""
    async def handle(reader, writer):  # answers every request line with no action
        while await reader.readline():
            writer.write(b"foo=bar\n\n")
            await writer.drain()

    async def scenario():
        quiet = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = quiet.sockets[0].getsockname()[1]
        engine = policy.engine(
            ISOLATED + "smtpd_policy_service_retry_delay = 0s\n"
            "smtpd_recipient_restrictions = check_policy_service "
            f"{{ inet:127.0.0.1:{port}, {{ default_action = 450 4.3.0 no policy }} }}")
        run = await policy.acheck(engine, Stage.RCPT, policy.session())
        await engine.close()
        quiet.close()
        return run, port

    run, port = asyncio.run(scenario())
    assert run.reply == "450 4.3.0 <kororo@kororo.jp>: Recipient address rejected: no policy"
    warnings = run.lines("warning")
    assert sum(line.endswith(f"missing attribute action in input from 127.0.0.1:{port}")
               for line in warnings) == 2  # smtpd_policy_service_try_limit = 2
    assert any(line.endswith(f"problem talking to server 127.0.0.1:{port}: Application error")
               for line in warnings)


def test_an_unbraced_option_value_with_spaces_is_refused(policy):
    """Postfix's smtpd dies on it; affix's configuration check names it."""
    from affix.policy.validate import check_restrictions

    engine = policy.engine(ISOLATED + "smtpd_recipient_restrictions = check_policy_service "
                                      "{ inet:127.0.0.1:9, default_action=450 4.3.0 no policy }")
    assert any("malformed option: missing '=' after attribute name: \"4.3.0\"" in problem
               for problem in check_restrictions(engine.cfg))


def test_recipient_count_is_sent_only_from_data_on(policy):
    async def scenario():
        async with PolicyServer(lambda attrs: "DUNNO") as server:
            service = f"check_policy_service inet:127.0.0.1:{server.port}"
            engine = policy.engine(ISOLATED + f"smtpd_recipient_restrictions = {service}\n"
                                              f"smtpd_data_restrictions = {service}\n")
            state = policy.session()
            state.recipients = ["first@kororo.jp"]
            await policy.acheck(engine, Stage.RCPT, state)
            await policy.acheck(engine, Stage.DATA, state)
            await engine.close()
            return server.requests

    rcpt, data = asyncio.run(scenario())
    assert (rcpt["recipient_count"], data["recipient_count"]) == ("0", "1")
    assert "compatibility_level" not in rcpt and "mail_version" not in rcpt  # 3.8's


def test_an_empty_action_and_a_late_prepend_are_warned_about_as_postfix_does(policy):
    async def scenario():
        answers = {"RCPT": "", "END-OF-MESSAGE": "PREPEND X-Late: yes"}
        async with PolicyServer(lambda attrs: answers[attrs["protocol_state"]]) as server:
            service = f"check_policy_service inet:127.0.0.1:{server.port}"
            engine = policy.engine(ISOLATED + f"smtpd_recipient_restrictions = {service}\n"
                                              f"smtpd_end_of_data_restrictions = {service}\n")
            rcpt = await policy.acheck(engine, Stage.RCPT, policy.session())
            eod = await policy.acheck(engine, Stage.END_OF_DATA, policy.session())
            await engine.close()
            return rcpt, eod, server.port

    rcpt, eod, port = asyncio.run(scenario())
    assert rcpt.reply is None and eod.reply is None and eod.verdict.prepend == []
    assert rcpt.lines("warning")[-1].endswith(
        f"access table inet:127.0.0.1:{port} entry  has empty value")
    assert eod.lines("warning")[-1].endswith(
        f"access table inet:127.0.0.1:{port}: action PREPEND must be used before "
        "smtpd_end_of_data_restrictions")
