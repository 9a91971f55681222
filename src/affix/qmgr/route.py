"""Which delivery agent handles a recipient: the address class of its domain.

mydestination and this server's [address] literals -> local (as smtpd counts them local);
virtual_alias_domains -> error (virtual_alias_maps did not rewrite the address: no such user);
virtual_mailbox_domains -> virtual; anything else -> smtp. The lists are matched by the tables
area's MatchList (names, `.domain`, files, `type:table` keys). A list that cannot be searched
raises TableError: the queue manager defers the recipient.
"""

from __future__ import annotations

from affix.config.netif import is_own_literal, own_interfaces
from affix.delivery.maps import DeliveryMaps

LOCAL, ERROR, VIRTUAL, SMTP = "local", "error", "virtual", "smtp"


class Router:
    def __init__(self, maps: DeliveryMaps):
        self.maps = maps

    def transport(self, address: str) -> str:
        _, at, domain = address.rpartition("@")
        if not at or self.maps.domain_in("mydestination", domain) or (
                domain.startswith("[") and is_own_literal(domain, own_interfaces(self.maps.cfg))):
            return LOCAL
        if self.maps.domain_in("virtual_alias_domains", domain):
            return ERROR
        if self.maps.domain_in("virtual_mailbox_domains", domain):
            return VIRTUAL
        return SMTP
