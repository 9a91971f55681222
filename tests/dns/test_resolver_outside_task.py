"""smtpd runs a verb handler eagerly, outside any asyncio Task, until it first waits
(smtpd/eager.py); a DNS query started there must still go out and be answered."""

from __future__ import annotations

import asyncio

from affix.dns.resolver import DnsStatus, Resolver
from affix.smtpd import eager


def test_query_started_outside_a_task_reaches_the_server(dns_server):
    dns_server.add("mail.example.org", "A", "192.0.2.25")
    resolver = Resolver([dns_server.address], timeout=2)

    async def handler():
        return await resolver.query("mail.example.org", "A")

    async def main():
        loop = asyncio.get_running_loop()
        started = loop.create_future()
        # a plain callback, as data_received is: no current Task
        loop.call_soon(lambda: started.set_result(eager.start(handler())))
        finished, value = await started
        return value if finished else await value

    answer = asyncio.run(main())
    assert answer.status is DnsStatus.OK
    assert answer.records == ("192.0.2.25",)
    assert ("mail.example.org", "A") in dns_server.queries
