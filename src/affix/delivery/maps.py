"""The tables a delivery agent consults: alias_maps, virtual_mailbox_maps, virtual_uid_maps,
... and list parameters such as mydestination, through the tables area's TableCache.

A table that cannot be read raises TableError, which the agents turn into a deferral
(`4.3.0 alias database unavailable`), never a bounce. Agents deliver in worker threads and a
TableCache serves one thread at a time, so every use holds the lock (a lookup takes
microseconds). The queue manager shares one DeliveryMaps between its router and its agents,
so that each table file is opened once.
"""

from __future__ import annotations

import threading

from affix.config.snapshot import Config, split_list
from affix.tables.cache import MapList, TableCache
from affix.tables.matchlist import MatchList


def _specs(value: str) -> list[str]:
    # `nis:` (in Postfix's default alias_maps): Postfix without a NIS domain disables NIS
    # lookups, so the table never has a result. affix has no NIS; the same holds.
    return [s for s in split_list(value) if not s.lower().startswith("nis:")]


class DeliveryMaps:
    def __init__(self, cfg: Config, program: str = "qmgr", tables: TableCache | None = None):
        self.cfg = cfg
        self._tables = tables if tables is not None else TableCache(cfg, program=program)
        self._lists: dict[str, MatchList] = {}
        self._lock = threading.Lock()

    def lookup(self, param: str, key: str) -> str | None:
        """The first result for `key` in the tables `param` names. Raises TableError."""
        with self._lock:
            return MapList(self._tables, _specs(self.cfg.get(param))).lookup(key)

    def domain_in(self, param: str, domain: str) -> bool:
        """Whether `domain` is in a list parameter (mydestination, ...). Raises TableError."""
        with self._lock:
            matcher = self._lists.get(param)
            if matcher is None:
                matcher = self._lists[param] = MatchList(self.cfg, param, self._tables)
            return matcher.match_domain(domain)
