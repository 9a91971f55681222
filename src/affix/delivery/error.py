"""The error transport, for recipients that have no mailbox anywhere: an address in a virtual
alias domain that virtual_alias_maps did not rewrite (cleanup/virtual.py) bounces, as Postfix
routes it to error(8). smtpd normally refuses such a recipient at RCPT time already."""

from __future__ import annotations

from affix.delivery.agent import DeliveryRequest, DomainAgent, Outcome, outcome_for


class ErrorAgent(DomainAgent):
    name = "error"

    async def deliver(self, request: DeliveryRequest) -> list[Outcome]:
        r = request.recipient
        return [outcome_for(r.address, "5.1.1", "User unknown in virtual alias table", "none",
                            r.original)]
