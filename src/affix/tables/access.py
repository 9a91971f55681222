"""access(5): the order of lookup keys and the meaning of a right-hand side (tables.md §3-4).

Two jobs, both pure functions of their input:
- *key order*: which strings a check_*_access restriction looks up, most specific first.
  Fixed-key tables (hash, texthash, inline, ...) get the partial keys (parent domains, shorter
  address prefixes, user@); pattern tables (regexp, pcre, cidr) get only the full string.
- *action parsing*: the first word of the value selects the action (case-insensitive), the rest
  is its text. Unknown words are restriction names, evaluated like a nested list.

The search itself (`search`) stops at the first key that is found, whatever its value: a DUNNO
entry hides every shorter key, and a client's hostname entry hides its address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from affix.ascii import is_digits
from affix.config.snapshot import split_list
from affix.dns.names import valid_hostaddr


class _Lookup(Protocol):
    def lookup(self, key: str) -> str | None: ...


# --- key order ---------------------------------------------------------------------------------

def domain_keys(domain: str, parent_style: bool = True) -> list[str]:
    """`a.b.c`, then its parents `b.c`, `c` (or `.b.c`, `.c` without parent_style).

    The loop cuts at every dot, like Postfix does, so a `[192.0.2.1]` literal yields the
    meaningless suffixes `0.2.1]`, `2.1]`, `1]` (tables.md §3).
    """
    keys: list[str] = []
    name = domain
    while name:
        keys.append(name)
        dot = name.find(".", 1)
        if dot < 0:
            break
        name = name[dot + 1:] if parent_style else name[dot:]
    return keys


def host_keys(name: str, fixed: bool = True, parent_style: bool = True) -> list[str]:
    """Keys for a host name (client name, HELO argument, ETRN domain)."""
    if not fixed:
        return [name]
    name = name.lower()
    if valid_hostaddr(name):
        return [name]  # a bare address is looked up as itself only
    return domain_keys(name, parent_style)


def canonical_ip(addr: str) -> str:
    """The address as inet_ntop prints it: IPv6 compressed, IPv4-mapped IPv6 as IPv4."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return addr.lower()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return ip.compressed


def address_prefix_keys(addr: str, fixed: bool = True) -> list[str]:
    """`a.b.c.d`, `a.b.c`, `a.b`, `a`; IPv6 cut at each last `:` of the compressed form."""
    addr = canonical_ip(addr)
    if not fixed:
        return [addr]
    delim = ":" if ":" in addr else "."
    keys = [addr]
    while delim in addr:
        addr = addr[:addr.rindex(delim)]
        if addr:
            keys.append(addr)
    return keys


def client_keys(name: str, addr: str, fixed: bool = True,
                parent_style: bool = True) -> list[str]:
    """Hostname keys, then address keys: the first key found ends the search (tables.md §3)."""
    return host_keys(name, fixed, parent_style) + address_prefix_keys(addr, fixed)


def split_extension(localpart: str, delimiters: str) -> str | None:
    """`user+ext` -> `user` when a delimiter is set and occurs after the first character."""
    if not delimiters:
        return None
    for i, c in enumerate(localpart):
        if i > 0 and c in delimiters:
            return localpart[:i]
    return None


def virtual_address_keys(local: str, domain: str, delimiters: str,
                         local_domain: bool) -> list[str]:
    """virtual_alias_maps (and the other address maps) search order: `user+ext@domain`,
    `user@domain`, then, for a local domain, `user+ext` and `user`, then `@domain`."""
    base = split_extension(local, delimiters)
    keys = [f"{local}@{domain}"] + ([f"{base}@{domain}"] if base else [])
    if local_domain:
        keys += [local] + ([base] if base else [])
    return keys + [f"@{domain}"]


def mail_address_keys(address: str, fixed: bool = True, parent_style: bool = True,
                      delimiters: str = "") -> list[str]:
    """`user+ext@domain`, `user@domain`, `domain` and parents, `user+ext@`, `user@`.

    `address` is already canonicalized (user@$myorigin for an unqualified user); the null
    sender is not handled here (it has its own single key, smtpd_null_access_lookup_key).
    """
    if not fixed:
        return [address]
    address = address.lower()
    local, at, domain = address.rpartition("@")
    if not at:
        local, domain = address, ""
    base = split_extension(local, delimiters)
    keys = [f"{local}@{domain}" if at else local]
    if base is not None and at:
        keys.append(f"{base}@{domain}")
    if domain:
        keys.extend(domain_keys(domain, parent_style))
    keys.append(f"{local}@")
    if base is not None:
        keys.append(f"{base}@")
    return list(dict.fromkeys(keys))  # keep the order, drop repeats


@dataclass(frozen=True)
class Found:
    key: str
    value: str


def search(table: _Lookup, keys: list[str]) -> Found | None:
    """Look the keys up in order; the first key found ends the search (DUNNO included).

    TableError from the table propagates: the caller turns it into a 4xx reply.
    """
    for key in keys:
        value = table.lookup(key)
        if value is not None:
            return Found(key, value)
    return None


# --- actions ------------------------------------------------------------------------------------

# RFC 3463 2: class.subject.detail, class 2/4/5, subject and detail 1-3 digits.
_DSN = re.compile(r"([245]\.[0-9]{1,3}\.[0-9]{1,3})(?:\s+|$)")


def split_dsn(text: str) -> tuple[str | None, str]:
    """A leading `D.S.N` of an action text, and the rest."""
    m = _DSN.match(text)
    if not m:
        return None, text
    return m.group(1), text[m.end():]


@dataclass(frozen=True)
class Permit:
    """OK, RELAY, or an all-digits value (pop-before-smtp time stamps)."""
    word: str


@dataclass(frozen=True)
class Reject:
    """REJECT (access_map_reject_code), DEFER (access_map_defer_code) or an explicit NNN code."""
    kind: str  # "REJECT", "DEFER" or "CODE"
    code: int | None  # only for CODE
    dsn: str | None  # from the text, else the restriction's default
    text: str | None  # None -> the default "Access denied"


@dataclass(frozen=True)
class DeferIfReject:
    dsn: str | None
    text: str | None  # None -> "Service unavailable"


@dataclass(frozen=True)
class DeferIfPermit:
    dsn: str | None
    text: str | None


@dataclass(frozen=True)
class Dunno:
    pass


@dataclass(frozen=True)
class Discard:
    text: str | None  # None -> "triggers DISCARD action"


@dataclass(frozen=True)
class Hold:
    text: str | None  # None -> "triggers HOLD action"


@dataclass(frozen=True)
class Redirect:
    target: str


@dataclass(frozen=True)
class Filter:
    target: str


@dataclass(frozen=True)
class Bcc:
    target: str


@dataclass(frozen=True)
class Prepend:
    header: str


@dataclass(frozen=True)
class Warn:
    text: str


@dataclass(frozen=True)
class Info:
    text: str


@dataclass(frozen=True)
class Restrictions:
    """Restriction names (or restriction class names), evaluated as a nested list."""
    names: tuple[str, ...]


@dataclass(frozen=True)
class BadEntry:
    """A value the engine must refuse or ignore, with the reason for the warning."""
    action: str  # the first word, upper case; "" for a lookup table inside the value
    value: str
    problem: str


Action = (Permit | Reject | DeferIfReject | DeferIfPermit | Dunno | Discard | Hold | Redirect
          | Filter | Bcc | Prepend | Warn | Info | Restrictions | BadEntry)

_HEADER = re.compile(r"[\x21-\x39\x3b-\x7e]+:")  # RFC 5322 2.2 field name, then ':'


# action word -> (is the target valid, the warning's reason, the action)
_TARGETED = {
    "REDIRECT": (lambda t: "@" in t, "requires user@domain target", Redirect),
    "BCC": (lambda t: "@" in t, "requires user@domain target", Bcc),
    "FILTER": (lambda t: ":" in t, "requires transport:destination", Filter),
    "PREPEND": (lambda t: bool(_HEADER.match(t)), "requires header: text", Prepend),
}


def _targeted(word: str, value: str, rest: str) -> Action:
    valid, problem, cls = _TARGETED[word]
    return cls(rest) if valid(rest) else BadEntry(word, value, problem)


def parse_action(value: str) -> Action:
    """The action of an access table value (tables.md §4)."""
    value = value.strip()
    word, _, rest = value.partition(" ")
    if "\t" in word:
        word, _, more = word.partition("\t")
        rest = (more + " " + rest).strip()
    rest = rest.strip()
    upper = word.upper()
    if is_digits(value):
        return Permit(value)
    if len(word) == 3 and is_digits(word) and word[0] in "45" and rest:
        # only 4xx and 5xx are replies; `250 fine` reads as a restriction list, whose
        # unknown name "250" is a configuration error (451 4.3.5), as in Postfix
        dsn, text = split_dsn(rest)
        return Reject("CODE", int(word), dsn, text)
    if upper in ("OK", "RELAY"):
        return Permit(upper)
    simple = _SIMPLE.get(upper)
    if simple is not None:
        return simple(rest)
    if upper in _TARGETED:
        return _targeted(upper, value, rest)
    if ":" in value:
        return BadEntry("", value, "lookup table inside the value")
    return Restrictions(tuple(split_list(value)))


def _with_dsn(make: Callable[[str | None, str | None], Action]) -> Callable[[str], Action]:
    """An action whose text may start with a D.S.N code."""
    def parse(rest: str) -> Action:
        dsn, text = split_dsn(rest)
        return make(dsn, text or None)
    return parse


_SIMPLE: dict[str, Callable[[str], Action]] = {
    "REJECT": _with_dsn(lambda dsn, text: Reject("REJECT", None, dsn, text)),
    "DEFER": _with_dsn(lambda dsn, text: Reject("DEFER", None, dsn, text)),
    "DEFER_IF_REJECT": _with_dsn(DeferIfReject),
    "DEFER_IF_PERMIT": _with_dsn(DeferIfPermit),
    "DUNNO": lambda rest: Dunno(),
    "DISCARD": lambda rest: Discard(rest or None),
    "HOLD": lambda rest: Hold(rest or None),
    "WARN": lambda rest: Warn(rest),
    "INFO": lambda rest: Info(rest),
}
