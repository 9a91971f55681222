"""Local interface addresses, for the computed default of mynetworks (config.md §4).

Read without extra dependencies: `ip -o addr` when it is there, else SIOCGIFADDR/SIOCGIFNETMASK
per interface for IPv4 and /proc/net/if_inet6 for IPv6. Never raises: an unreadable source
just contributes nothing, and the loopback networks are the last resort.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import struct
import subprocess
from ipaddress import IPv4Interface, IPv6Interface

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
