"""virtual_alias_maps: cleanup rewrites every envelope recipient, whatever its domain
(cleanup-and-delivery.md §3), before the queue file is written, so that the queue manager and
the delivery agents only ever see the final addresses.

A recipient found in the tables is replaced by the addresses its entry lists, and each of
those is looked up again; an address that is not found is final. An entry that lists the
address itself keeps it (`a@example.org  a@example.org, archive@example.org`), and so does a
chain that leads back to an address already being expanded (a loop ends there rather than
going round until the nesting limit). When a table cannot be read (451 4.3.0, the queue-file
write status), or the expansion goes past virtual_alias_recursion_limit or
virtual_alias_expansion_limit (451 4.6.0 Alias expansion error), the message is not accepted:
the client is asked to try again later, as Postfix's cleanup does.
"""

from __future__ import annotations

import threading

from affix.cleanup import replies
from affix.config.netif import is_own_literal, own_interfaces
from affix.config.snapshot import Config, split_list
from affix.reply import Reply
from affix.tables.access import split_extension, virtual_address_keys
from affix.tables.base import TableError
from affix.tables.cache import MapList, TableCache
from affix.tables.matchlist import MatchList


class ExpansionProblem(Exception):
    """The recipient cannot be rewritten now; str() is the warning for the mail log, `reply`
    what the client is told."""

    def __init__(self, warning: str, reply: Reply = replies.ALIAS_EXPANSION_ERROR):
        super().__init__(warning)
        self.reply = reply


class VirtualAliases:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        # tables of its own: cleanup also runs in worker threads (submit_sync), and a
        # TableCache serves one thread at a time
        tables = TableCache(cfg, program="cleanup")
        self.maps = MapList(tables, split_list(cfg.get("virtual_alias_maps")))
        self._local = MatchList(cfg, "mydestination", tables)
        self._delimiters = cfg.get("recipient_delimiter")
        self._propagate = "virtual" in cfg.list("propagate_unmatched_extensions")
        self._nesting = max(1, cfg.int("virtual_alias_recursion_limit"))
        self._size = max(1, cfg.int("virtual_alias_expansion_limit"))
        self._lock = threading.Lock()

    def expand(self, address: str) -> list[str]:
        """The final addresses for one recipient (itself when no table has it). Raises
        ExpansionProblem. Depth first, with an explicit stack (a chain 1000 deep must not
        exhaust Python's); every address a lookup produces counts against the size limit, so
        lists that share sub-lists cannot make the work grow without bound."""
        out: dict[str, str] = {}  # lowercased -> as written; keeps the order of discovery
        produced = 0
        stack: list[tuple[str, int, frozenset[str]]] = [(address, 0, frozenset())]
        with self._lock:
            while stack:
                current, depth, ancestors = stack.pop()
                key = current.lower()
                found = None if key in ancestors else self._lookup(current)
                if found is None:  # final, or back at an address being expanded: kept
                    out.setdefault(key, current)
                    continue
                if depth >= self._nesting:
                    raise ExpansionProblem(f"unreasonable virtual_alias_maps map nesting for "
                                           f"{address} -- message not accepted, try again later")
                produced += len(found)
                if produced > self._size:
                    raise ExpansionProblem(f"unreasonable virtual_alias_maps map expansion size "
                                           f"for {address} -- message not accepted, try again "
                                           "later")
                inside = ancestors | {key}  # an entry naming itself keeps itself
                stack.extend((result, depth + 1, inside) for result in reversed(found))
        return list(out.values())

    def _lookup(self, address: str) -> list[str] | None:
        local, at, domain = address.rpartition("@")
        if not at:
            local, domain = address, self.cfg.get("myorigin")
        local, domain = local.lower(), domain.lower()
        try:
            local_domain = self._is_local(domain)
            for key in virtual_address_keys(local, domain, self._delimiters, local_domain):
                value = self.maps.lookup(key)
                if value is not None:
                    return self._results(value, local, key)
        except TableError as e:
            raise ExpansionProblem(f"virtual_alias_maps map lookup problem for {address} -- "
                                   f"message not accepted, try again later ({e})",
                                   replies.LOOKUP_ERROR) from e
        return None

    def _results(self, value: str, local: str, key: str) -> list[str]:
        """The addresses an entry lists: `user` is qualified with $myorigin, `@domain` keeps
        the user part, and (propagate_unmatched_extensions) an extension that a `user@domain`
        or `user` key did not include is carried over; a `@domain` key matches no user, so
        it carries none into a full address."""
        base = split_extension(local, self._delimiters)
        extension = local[len(base):] if base is not None and self._propagate else ""
        user_part = base if base is not None else local
        carry = extension if not key.startswith("@") and key.split("@")[0] != local else ""
        out = []
        for item in value.replace(",", " ").split():
            if item.startswith("@"):
                out.append(user_part + extension + item)
                continue
            user, at, domain = item.rpartition("@")
            if not at:
                user, domain = item, self.cfg.get("myorigin")
            out.append(f"{user}{carry}@{domain}")
        return out

    def _is_local(self, domain: str) -> bool:
        """Bare `user` keys apply to $myorigin, mydestination and this host's addresses."""
        if domain == self.cfg.get("myorigin").lower():
            return True
        if domain.startswith("["):
            return is_own_literal(domain, own_interfaces(self.cfg))
        return self._local.match_domain(domain)
