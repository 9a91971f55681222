"""cidr: tables (tables.md §6): `network/prefix result` or `address result`, first match wins.

`!` negates a rule (it then matches addresses of the same family outside the network);
`if PATTERN` ... `endif` blocks nest. Keys that are not an IPv4/IPv6 address match nothing.
A rule with host bits set is skipped with Postfix's warning (the suggestion included).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from affix.ascii import is_digits
from affix.config.maincf import logical_lines
from affix.tables.base import FileTable, read_text

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class CidrRule:
    version: int
    net: int
    mask: int
    negate: bool
    result: str | None  # None for `if`
    skip_to: int = 0


class CidrError(ValueError):
    pass


def parse_network(text: str) -> Network:
    """`a.b.c.d[/len]`, `ipv6[/len]`, optionally in `[]`; raises CidrError (Postfix wording)."""
    addr, slash, length = text.partition("/")
    if addr.startswith("[") and addr.endswith("]"):
        addr = addr[1:-1]
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        raise CidrError(f'bad address pattern: "{text}"') from None
    if not slash:
        return ipaddress.ip_network(ip)
    if not is_digits(length) or int(length) > ip.max_prefixlen:
        raise CidrError(f'bad mask length in "{text}"')
    net = ipaddress.ip_network(f"{ip}/{int(length)}", strict=False)
    if net.network_address != ip:
        raise CidrError(f'non-null host address bits in "{text}", perhaps you should use '
                        f'"{net.network_address}/{length}" instead')
    return net


class CidrTable(FileTable):
    fixed = False

    def __init__(self, spec: str, path: str):
        super().__init__(spec)
        self._remember(path)
        self.warnings: tuple[str, ...] = ()
        self.rules = self._load(read_text(path, spec), path)

    def _load(self, text: str, where: str) -> list[CidrRule]:
        rules: list[CidrRule] = []
        open_ifs: list[tuple[int, int]] = []
        warnings: list[str] = []
        for ll in logical_lines(text):
            try:
                self._rule(ll.text.strip(), rules, open_ifs, ll.line)
            except CidrError as e:
                warnings.append(f"cidr map {where}, line {ll.line}: {e}")
        for index, line in open_ifs:  # a missing endif closes at the end of the file
            warnings.append(f"cidr map {where}, line {line}: IF has no matching ENDIF")
            r = rules[index]
            rules[index] = CidrRule(r.version, r.net, r.mask, r.negate, None, len(rules))
        self.warnings = tuple(warnings)
        return rules

    def _rule(self, text: str, rules: list[CidrRule], open_ifs: list[tuple[int, int]],
              line: int) -> None:
        parts = text.split(None, 1)
        word = parts[0].lower()
        if word == "endif":
            if not open_ifs:
                raise CidrError("ignoring ENDIF without matching IF")
            index, _ = open_ifs.pop()
            r = rules[index]
            rules[index] = CidrRule(r.version, r.net, r.mask, r.negate, None, len(rules))
            return
        is_if = word == "if"
        body = (parts[1] if len(parts) > 1 else "") if is_if else text
        fields = body.split(None, 1) or [""]
        pattern, result = fields[0], (fields[1].strip() if len(fields) > 1 else "")
        negate = pattern.startswith("!")
        try:
            net = parse_network(pattern.lstrip("!"))
        except CidrError as e:
            raise CidrError(f"{e}: skipping this rule") from None
        if not is_if and not result:
            raise CidrError("no lookup result: skipping this rule")
        rule = CidrRule(net.version, int(net.network_address), int(net.netmask), negate,
                        None if is_if else result)
        rules.append(rule)
        if is_if:
            open_ifs.append((len(rules) - 1, line))

    def lookup(self, key: str) -> str | None:
        try:
            ip = ipaddress.ip_address(key)
        except ValueError:
            return None
        version, value = ip.version, int(ip)
        rules = self.rules
        i, n = 0, len(rules)
        while i < n:
            r = rules[i]
            hit = r.version == version and ((value & r.mask) == r.net) != r.negate
            if r.result is None:
                i = i + 1 if hit else r.skip_to
            elif hit:
                return r.result
            else:
                i += 1
        return None
