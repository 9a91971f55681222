"""The smtp transport, for recipients in other domains.

NOT IMPLEMENTED YET: outbound SMTP delivery is a later issue. Until then this agent defers every
remote recipient with a clear reason, so mail waits in the queue (and expires with a DSN after
maximal_queue_lifetime) instead of being lost.
"""

from __future__ import annotations

from affix.delivery.agent import DeliveryRequest, DomainAgent, Outcome, outcome_for


class SmtpAgent(DomainAgent):
    name = "smtp"

    async def deliver(self, request: DeliveryRequest) -> list[Outcome]:
        r = request.recipient
        return [outcome_for(r.address, "4.3.0",
                            "delivery to remote domains is not implemented yet", "none",
                            r.original)]
