"""The resolver works when smtpd runs a coroutine eagerly, outside any asyncio Task (before
the fix, dnspython's backend sniffing failed there and every lookup was a temporary error)."""

from __future__ import annotations

import asyncio

from affix.dns.resolver import DnsStatus, Resolver
from affix.smtpd import eager


def test_query_started_outside_a_task_gets_the_answer(dns_server):
    dns_server.add("mail.example.org", "A", "192.0.2.7")
    resolver = Resolver([dns_server.address], timeout=2)
    loop = asyncio.new_event_loop()
    done: asyncio.Future = loop.create_future()

    def callback() -> None:  # a protocol callback, as data_received is: no current Task
        assert asyncio.current_task() is None
        finished, result = eager.start(resolver.query("mail.example.org", "A"))
        if finished:
            done.set_result(result)
        else:
            result.add_done_callback(lambda task: done.set_result(task.result()))

    try:
        loop.call_soon(callback)
        answer = loop.run_until_complete(done)
    finally:
        loop.close()
    assert answer.status is DnsStatus.OK and answer.records == ("192.0.2.7",)
