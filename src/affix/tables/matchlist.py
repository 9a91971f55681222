"""List-type parameters (tables.md §7): mynetworks, relay_domains, mydestination, ...

Elements: `a.b.c.d`, `a.b.c.d/len`, `[ipv6]`, `[ipv6]/len`, host names, `.domain`
(subdomains), plain `domain` (also its subdomains when the parameter is named in
parent_domain_matches_subdomains), `/file/name` (its contents are more elements),
`type:table` (the name or address is looked up; any value is a match) and `!pattern`
(a match excludes). The first matching element decides. An element that cannot be used (a
net/len with host bits set, a missing file, a broken table) raises TableError when the
search reaches it, so the caller answers with a temporary error (`451 4.3.0`).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from affix.ascii import is_digits
from affix.config.snapshot import Config, split_list
from affix.tables.base import TableError
from affix.tables.cache import TableCache
from affix.tables.cidr import CidrError, parse_network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Pattern:
    negate: bool
    kind: str  # "net", "host", "table" or "error"
    text: str  # lower-cased host pattern, table spec, or the error message
    net: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None


class MatchList:
    def __init__(self, cfg: Config, param_name: str, tables: TableCache | None = None,
                 value: str | None = None):
        """`value` overrides the parameter's value (e.g. a computed mynetworks)."""
        self.name = param_name
        self.tables = tables if tables is not None else TableCache(cfg)
        self.parent = param_name in cfg.list("parent_domain_matches_subdomains")
        raw = cfg.get(param_name) if value is None else value
        self.patterns = tuple(self._parse(split_list(raw), depth=0))
        # Without a table the answer depends on the name and address alone, and the same few
        # are asked about again and again (mynetworks at every list of every RCPT,
        # mydestination for each address): answers are kept. (An unusable element raises
        # each time: lru_cache keeps no exception.)
        self._lookup = self._answer if any(p.kind == "table" for p in self.patterns) \
            else functools.lru_cache(maxsize=256)(self._answer)

    def _parse(self, elements: list[str], depth: int) -> list[Pattern]:
        out: list[Pattern] = []
        for element in elements:
            negate = element.startswith("!")
            item = element.lstrip("!")
            if item.startswith("/"):
                out.extend(self._file(item, negate, depth))
            else:
                out.append(self._pattern(item, negate))
        return out

    def _file(self, path: str, negate: bool, depth: int) -> list[Pattern]:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                lines = [ln for ln in f.read().splitlines() if not ln.lstrip().startswith("#")]
        except OSError as e:
            return [Pattern(negate, "error", f"{self.name}: open {path}: {e.strerror}")]
        if depth > 10:
            return [Pattern(negate, "error", f"{self.name}: {path}: files nested too deep")]
        inner = self._parse(split_list(" ".join(lines)), depth + 1)
        if negate:  # `!/file` negates every element read from it
            inner = [Pattern(not p.negate, p.kind, p.text, p.net) for p in inner]
        return inner

    def _pattern(self, item: str, negate: bool) -> Pattern:
        if _looks_like_network(item):
            try:
                return Pattern(negate, "net", item, parse_network(item))
            except CidrError as e:
                return Pattern(negate, "error", f"{self.name}: {e}")
        if ":" in item:
            return Pattern(negate, "table", item)
        return Pattern(negate, "host", item.lower())

    # --- matching ---------------------------------------------------------------------------
    def match_client(self, name: str | None, addr: str | None) -> bool:
        """A client given by its verified name (or 'unknown') and its IP address."""
        return self._lookup(name.lower() if name else None, addr)

    def match_domain(self, domain: str) -> bool:
        return self._lookup(domain.lower().rstrip("."), None)

    def match_address(self, addr: str) -> bool:
        """An IP address alone (host-name elements never match)."""
        return self._lookup(None, addr)

    def _answer(self, name: str | None, addr: str | None) -> bool:
        return self._match(name, _address(addr))

    def _match(self, name: str | None, addr: Address | None) -> bool:
        for p in self.patterns:
            if p.kind == "error":
                raise TableError(p.text, temporary=True)
            if self._one(p, name, addr):
                return not p.negate
        return False

    def _one(self, p: Pattern, name: str | None, addr: Address | None) -> bool:
        if p.kind == "net":
            return addr is not None and p.net is not None and addr in p.net
        if p.kind == "host":
            return name is not None and self._host_match(p.text, name)
        table = self.tables.get(p.text)
        if name is not None:
            for key in self._host_keys(name, table.fixed):
                if table.lookup(key) is not None:
                    return True
        return addr is not None and table.lookup(str(addr)) is not None

    def _host_match(self, pattern: str, name: str) -> bool:
        if pattern.startswith("."):
            return name.endswith(pattern)
        return name == pattern or (self.parent and name.endswith("." + pattern))

    def _host_keys(self, name: str, fixed: bool) -> list[str]:
        """The name, then (fixed tables only) its parents: `example.com` with the parent
        setting, `.example.com` without it."""
        keys = [name]
        if fixed:
            labels = name.split(".")
            for i in range(1, len(labels)):
                parent = ".".join(labels[i:])
                keys.append(parent if self.parent else "." + parent)
        return keys


def _looks_like_network(item: str) -> bool:
    if item.startswith("["):
        return True
    addr = item.partition("/")[0]
    if is_digits(addr.replace(".", "")) and addr.count(".") == 3:
        return True
    if ":" in addr:  # an unbracketed IPv6 address, not a type:table
        try:
            ipaddress.IPv6Address(addr)
            return True
        except ValueError:
            return False
    return False


@functools.lru_cache(maxsize=1024)  # every permit_mynetworks of a session parses the same
def _address(addr: str | None) -> Address | None:
    if not addr:
        return None
    try:
        ip = ipaddress.ip_address(addr.strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
