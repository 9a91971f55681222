"""A reload replaces the queue manager (daemon.Server._switch_qmgr): the new one starts at once,
the old one finishes the deliveries it has in hand, reloads in quick succession do not pile up,
and a stop after them ends."""

from __future__ import annotations

import asyncio

import affix.qmgr.manager as manager_module
from affix.check import check_config
from affix.daemon import ALL, Server
from affix.delivery.agent import outcome_for
from fixtures.qhelp import USER, envelope, make_config, message, queue_message, run, use_log

RCPT = f"{USER}@example.test"


class _GatedAgent:
    """Delivers once `gate` opens; counts its deliveries per queue id."""

    name = "local"

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started: list[str] = []
        self.delivered: list[str] = []

    def destination(self, recipient: str) -> str:
        return recipient

    def concurrency(self) -> int:
        return 10

    async def deliver(self, request):  # noqa: ANN001, ANN201 - the Agent protocol's
        self.started.append(request.queue_id)
        if len(self.started) == 1:
            await self.gate.wait()  # the first delivery is a slow one
        self.delivered.append(request.queue_id)
        return [outcome_for(request.recipient.address, "2.0.0", "delivered")]


def test_reloads_during_a_slow_delivery_start_the_new_queue_manager_at_once(tmp_path,
                                                                           monkeypatch):
    make_config(tmp_path, "local_recipient_maps =\n")
    (tmp_path / "etc" / "master.cf").write_text("")
    use_log(tmp_path)
    agent = _GatedAgent()
    monkeypatch.setattr(manager_module, "default_agents",
                        lambda *a, **k: {"local": agent, "virtual": agent, "smtp": agent})
    checked = check_config(str(tmp_path / "etc"))

    async def wait_until(predicate) -> None:  # noqa: ANN001
        for _ in range(200):
            if predicate():
                return
            await asyncio.sleep(0.025)
        raise AssertionError("timed out")

    async def go() -> tuple[str, str]:
        server = Server(str(tmp_path / "etc"), checked, True, ALL)
        await server.start()
        slow = await queue_message(checked.cfg, envelope("a@example.org", RCPT), message("a"))
        server.runtime.qmgr.wake(slow)
        await wait_until(lambda: agent.started == [slow])
        await server.reload()
        await server.reload()  # the second before the first switch is over
        # the newest queue manager delivers now, while the first still waits on its delivery
        quick = await queue_message(checked.cfg, envelope("a@example.org", RCPT), message("b"))
        server.runtime.qmgr.wake(quick)
        await wait_until(lambda: quick in agent.delivered)
        agent.gate.set()
        await asyncio.wait_for(server.shutdown(), 15)
        return slow, quick

    slow, quick = run(go())
    assert sorted(agent.delivered) == sorted([slow, quick])  # each once
