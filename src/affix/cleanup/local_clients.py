"""local_header_rewrite_clients: the SMTP clients whose mail cleanup treats as a local
submission (Postfix's "local" address rewriting context).

Their messages get what sendmail's get: a missing Message-Id, Date and From header is added,
and a bare name in an address header (`From: joe`) is qualified with $myorigin. Mail from
every other client is left as it was sent (always_add_missing_headers aside): adding headers
to it could break signatures, such as DKIM's, that cover a header's absence. The default,
permit_inet_interfaces, is a client on this server's own address (127.0.0.1 for programs on
the host that speak SMTP instead of running sendmail).

Elements, as in Postfix: permit_inet_interfaces, permit_mynetworks, permit_sasl_authenticated,
permit_tls_clientcerts and permit_tls_all_clientcerts (never: affix verifies no client
certificates), check_address_map TYPE:TABLE and a bare TYPE:TABLE (the client address is
looked up; any result counts, static:all matches everybody).
"""

from __future__ import annotations

from affix import log
from affix.config.netif import is_own_address
from affix.config.snapshot import Config
from affix.queue.envelope import Envelope
from affix.tables.base import TableError
from affix.tables.cache import TableCache
from affix.tables.matchlist import MatchList

PARAM = "local_header_rewrite_clients"
_NEVER = ("permit_tls_clientcerts", "permit_tls_all_clientcerts")


class LocalClients:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.items = cfg.list(PARAM)
        self._tables: TableCache | None = None  # made at the first table element used
        self._mynetworks: MatchList | None = None

    def __call__(self, envelope: Envelope) -> bool:
        """The message came from a client in the list (the first element that matches)."""
        addr = envelope.client_addr
        items = iter(self.items)
        for item in items:
            word = item.lower()
            if word == "check_address_map":
                item = next(items, "")
            try:
                if self._matches(word, item, envelope, addr):
                    return True
            except TableError as e:  # the client counts as remote: headers left alone
                log.warning("cleanup", f"{PARAM}: {e}")
        return False

    def _matches(self, word: str, item: str, envelope: Envelope, addr: str) -> bool:
        if word == "permit_inet_interfaces":
            return is_own_address(addr, self.cfg.list("inet_interfaces"))
        if word == "permit_mynetworks":
            if self._mynetworks is None:
                self._mynetworks = MatchList(self.cfg, "mynetworks", self._table_cache())
            return self._mynetworks.match_client(envelope.client_name, addr)
        if word == "permit_sasl_authenticated":
            return bool(envelope.sasl_username)
        if word in _NEVER or ":" not in item:
            return False
        return self._table_cache().get(item).lookup(addr) is not None

    def _table_cache(self) -> TableCache:
        if self._tables is None:
            self._tables = TableCache(self.cfg, program="cleanup")
        return self._tables
