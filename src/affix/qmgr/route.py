"""Which delivery agent handles a recipient: the address class of its domain.

mydestination -> local; virtual_mailbox_domains -> virtual; anything else -> smtp. List items
that name a table (`type:name`) match the domains that are keys in it. (Seam: the tables area's
MatchList replaces this small matcher when it lands; the result must stay the same.)
"""

from __future__ import annotations

from affix.config.snapshot import Config
from affix.delivery.maps import MapError, SourceMaps

LOCAL, VIRTUAL, SMTP = "local", "virtual", "smtp"


class DomainList:
    def __init__(self, cfg: Config, param: str):
        self.names: set[str] = set()
        self.maps: list[SourceMaps] = []
        for item in cfg.list(param):
            if ":" in item and not item.startswith("["):
                self.maps.append(SourceMaps(item))
            else:
                self.names.add(item.lower().rstrip("."))

    def __contains__(self, domain: str) -> bool:
        domain = domain.lower().rstrip(".")
        if domain in self.names:
            return True
        for m in self.maps:
            try:
                if m.lookup(domain) is not None:
                    return True
            except MapError:
                continue
        return False


class Router:
    def __init__(self, cfg: Config):
        self.local = DomainList(cfg, "mydestination")
        self.virtual = DomainList(cfg, "virtual_mailbox_domains")

    def transport(self, address: str) -> str:
        _, at, domain = address.rpartition("@")
        if not at or domain in self.local:
            return LOCAL
        if domain in self.virtual:
            return VIRTUAL
        return SMTP
