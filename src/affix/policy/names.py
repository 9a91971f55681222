"""Address pieces and the canonicalization restrictions rely on (name syntax: affix.dns.names)."""

from __future__ import annotations

from affix.config.snapshot import Config


def strip_one_dot(name: str) -> str:
    """Postfix ignores one trailing dot of a HELO name or address domain."""
    return name[:-1] if name.endswith(".") else name


def domain_of(address: str) -> str:
    """The part after the last `@` ('' without one)."""
    return address.rpartition("@")[2] if "@" in address else ""


def canonical_address(cfg: Config, address: str) -> str:
    """The address as the resolver sees it in the local rewrite context (tables.md §3):
    `user` becomes user@$myorigin; `user@host` gets .$mydomain with append_dot_mydomain."""
    if not address:
        return address
    if "@" not in address:
        origin = cfg.get("myorigin").strip()
        return f"{address}@{origin}" if origin else address
    local, _, domain = address.rpartition("@")
    if domain and "." not in domain and not domain.startswith("[") and \
            cfg.bool("append_dot_mydomain"):
        mydomain = cfg.get("mydomain").strip()
        if mydomain:
            return f"{local}@{domain}.{mydomain}"
    return address
