"""Local interface addresses: the computed default of mynetworks (config.md §4), and which
addresses are this server's own (inet_interfaces = all, permit_inet_interfaces,
local_header_rewrite_clients).

Read without extra dependencies: `ip -o addr` when it is there, else SIOCGIFADDR/SIOCGIFNETMASK
per interface for IPv4 and /proc/net/if_inet6 for IPv6. Never raises: an unreadable source
just contributes nothing, and the loopback networks are the last resort.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import socket
import struct
import subprocess
import time
from ipaddress import IPv4Interface, IPv6Interface
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from affix.config.snapshot import Config

Iface = IPv4Interface | IPv6Interface

_LOOPBACK: tuple[Iface, ...] = (IPv4Interface("127.0.0.1/8"), IPv6Interface("::1/128"))


def parse_ip_addr(output: str) -> list[Iface]:
    """Addresses from `ip -o addr` lines (`2: eth0 inet 192.0.2.2/24 brd ...`)."""
    found: list[Iface] = []
    for line in output.splitlines():
        words = line.split()
        for i, word in enumerate(words[:-1]):
            if word in ("inet", "inet6"):
                with contextlib.suppress(ValueError):
                    found.append(ipaddress.ip_interface(words[i + 1]))
                break
    return found


def _from_ip_command() -> list[Iface]:
    import shutil  # here: only to find `ip`, and shutil loads bz2 and lzma into the server

    ip = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip", "/bin/ip")
                                     if os.path.exists(p)), None)
    if ip is None:
        return []
    try:
        out = subprocess.run([ip, "-o", "addr", "show"], capture_output=True, text=True,
                             timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_ip_addr(out)


def parse_if_inet6(text: str) -> list[Iface]:
    """/proc/net/if_inet6: `ADDR32HEX IFINDEX PREFIXLEN(hex) SCOPE FLAGS NAME`."""
    found: list[Iface] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or len(words[0]) != 32:
            continue
        try:
            addr = ipaddress.IPv6Address(bytes.fromhex(words[0]))
            found.append(IPv6Interface(f"{addr}/{int(words[2], 16)}"))
        except ValueError:
            pass
    return found


def _ipv4_by_ioctl() -> list[Iface]:
    try:
        import fcntl
    except ImportError:
        return []
    found: list[Iface] = []
    try:
        names = [name for _, name in socket.if_nameindex()]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return []
    with sock:
        for name in names:
            req = struct.pack("256s", name.encode()[:15])
            try:
                addr = fcntl.ioctl(sock.fileno(), 0x8915, req)[20:24]  # SIOCGIFADDR
                mask = fcntl.ioctl(sock.fileno(), 0x891B, req)[20:24]  # SIOCGIFNETMASK
            except OSError:
                continue
            found.append(IPv4Interface(f"{socket.inet_ntoa(addr)}/{socket.inet_ntoa(mask)}"))
    return found


def _fallback() -> list[Iface]:
    found = _ipv4_by_ioctl()
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as f:
            found += parse_if_inet6(f.read())
    except OSError:
        pass
    return found


def local_interfaces() -> list[Iface]:
    """Every address of every local interface (IPv4 first); loopback if nothing is readable."""
    found = _from_ip_command() or _fallback() or list(_LOOPBACK)
    return sorted(found, key=lambda i: i.version)  # stable: keeps interface order per family


_OWN_FOR = 60.0  # seconds a listing of the interface addresses is used
_Own = tuple[float, frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address], frozenset[str]]
_own: _Own = (float("-inf"), frozenset(), frozenset())


def _own_listing() -> _Own:
    """This host's interface addresses (and their texts), listed again at most once a minute
    (the listing runs `ip`; the callers ask per message)."""
    global _own
    if time.monotonic() - _own[0] >= _OWN_FOR:
        addresses = frozenset(iface.ip for iface in local_interfaces())
        _own = (time.monotonic(), addresses, frozenset(map(str, addresses)))
    return _own


def is_own_address(addr: str, interfaces: list[str]) -> bool:
    """`addr` is one of `interfaces` (values of inet_interfaces, proxy_interfaces): `all` is
    every address of a local interface (127.0.0.1, not the rest of 127/8), `loopback-only`
    is 127.0.0.1 and ::1. Host names in the list are not looked up."""
    if interfaces == ["all"] and "." in addr and ":" not in addr:
        # the usual case, per message: an IPv4 address as smtpd writes it, compared as text
        return addr in _own_listing()[2]
    ip = _client_ip(addr)
    if ip is None:
        return False
    every, fixed = _interface_addresses(tuple(interfaces))
    return ip in fixed or (every and ip in _own_listing()[1])


def own_interfaces(cfg: Config) -> list[str]:
    """The addresses this server is known by: inet_interfaces and proxy_interfaces."""
    return cfg.list("inet_interfaces") + cfg.list("proxy_interfaces")


def is_own_literal(domain: str, interfaces: list[str]) -> bool:
    """`domain` is an address literal (`[192.0.2.1]`, `[ipv6:2001:db8::1]`) of this server:
    mail to user@[our address] is local mail (Postfix's resolve_local)."""
    if not (domain.startswith("[") and domain.endswith("]")):
        return False
    inner = domain[1:-1]
    return is_own_address(inner[5:] if inner.lower().startswith("ipv6:") else inner, interfaces)


# Both are asked per message with the same few values (the client, the config's list): the
# parsed forms are kept rather than made again each time.

@functools.lru_cache(maxsize=256)
def _client_ip(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address as an IPv4 address when it is one (also IPv4-mapped), None if no address."""
    try:
        ip = ipaddress.ip_address(addr.strip("[]").removeprefix("IPv6:").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


@functools.lru_cache(maxsize=16)
def _interface_addresses(interfaces: tuple[str, ...],
                         ) -> tuple[bool, frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    """(whether `all` is listed, the addresses listed: loopback-only's and literal ones)."""
    every = False
    fixed: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for item in interfaces:
        item = item.lower().strip("[]").removeprefix("ipv6:")
        if item == "all":
            every = True
        elif item == "loopback-only":
            fixed.update(_LOOPBACK_ADDRESSES)
        else:
            with contextlib.suppress(ValueError):
                fixed.add(ipaddress.ip_address(item))
    return every, frozenset(fixed)


_LOOPBACK_ADDRESSES = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def _class_network(iface: Iface) -> str:
    if iface.version == 6:
        return f"[{iface.network.network_address}]/{iface.network.prefixlen}"
    first = int(iface.ip) >> 24
    bits = 8 if first < 128 else 16 if first < 192 else 24 if first < 224 else 32
    net = ipaddress.ip_network(f"{iface.ip}/{bits}", strict=False)
    return f"{net.network_address}/{bits}"


def format_network(iface: Iface, style: str) -> str:
    """One mynetworks element: host -> address/32 or /128, subnet -> the interface's network,
    class -> the whole class A/B/C network (IPv6 uses the subnet)."""
    if style == "class":
        return _class_network(iface)
    if style == "host":
        bits = 32 if iface.version == 4 else 128
        addr, prefix = iface.ip, bits
    else:
        addr, prefix = iface.network.network_address, iface.network.prefixlen
    return f"{addr}/{prefix}" if iface.version == 4 else f"[{addr}]/{prefix}"


def mynetworks(style: str, ifaces: list[Iface], versions: frozenset[int] = frozenset({4, 6}),
               ) -> str:
    """The computed mynetworks value, elements separated by one space (as postconf prints)."""
    out: list[str] = []
    for iface in ifaces:
        if iface.version in versions:
            item = format_network(iface, style)
            if item not in out:
                out.append(item)
    return " ".join(out)
