"""master.cf: the services affix runs (config.md §6).

affix runs the `inet` services whose command is `smtpd`. Postfix's internal services (cleanup,
qmgr, local, smtp, bounce, ...) exist inside affix already, so their lines are skipped quietly;
any other line (pipe transports, unix-socket smtpd, ...) is skipped with a warning naming it.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field, replace

from affix.ascii import is_digits
from affix.config.errors import ConfigError
from affix.config.maincf import LogicalLine, Warning_, logical_lines
from affix.config.snapshot import Config, read_text

# Daemons whose work affix does in-process: their master.cf lines need no warning.
BUILT_IN = frozenset({
    "pickup", "cleanup", "qmgr", "oqmgr", "tlsmgr", "trivial-rewrite", "bounce", "verify",
    "flush", "proxymap", "smtp", "showq", "error", "discard", "local", "virtual", "lmtp",
    "anvil", "scache", "postlogd",
})
SERVICE_TYPES = frozenset({"inet", "unix", "unix-dgram", "fifo", "pass"})
# Used when getservbyname() does not know the name (no /etc/services in a container).
WELL_KNOWN_PORTS = {"smtp": 25, "submission": 587, "submissions": 465, "smtps": 465}


@dataclass(frozen=True)
class MasterService:
    """One `inet ... smtpd` line: where to listen and the `-o` overrides for its sessions."""

    name: str  # the service field as written, e.g. "smtp", "127.0.0.1:2525", "[::1]:submission"
    host: str | None  # the host part; None = every address in inet_interfaces
    port: int
    overrides: dict[str, str] = field(default_factory=dict, hash=False)
    line: int = 0
    path: str = "master.cf"
    command: str = "smtpd"
    args: tuple[str, ...] = ()  # options other than -o (e.g. -v)
    # private, unpriv, chroot, wakeup and maxproc as written (shown by `affix conf -M`)
    fields: tuple[str, ...] = ("n", "-", "n", "-", "-")
    kind: str = "inet"  # or "pass": the smtpd behind postscreen (no listener of its own)

    @property
    def service_name(self) -> str:
        """Postfix's $service_name: the service field without the host part."""
        return self.name.rsplit(":", 1)[-1] if ":" in self.name else self.name

    @property
    def source(self) -> tuple[str, int]:
        return (self.path, self.line)

    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def config(self, cfg: Config) -> Config:
        """The snapshot this service's sessions use: main.cf plus its `-o` overrides."""
        return cfg.with_overrides({"service_name": self.service_name, **self.overrides},
                                  self.source)

    def syslog_name(self, cfg: Config) -> str:
        """The log tag prefix of this service (`-o syslog_name=postfix/submission`)."""
        return self.config(cfg).get("syslog_name")

    def listen_hosts(self, cfg: Config) -> list[str] | None:
        """Addresses to bind: the host part, else inet_interfaces (None = all addresses)."""
        if self.host is not None:
            return None if self.host in ("*", "") else [self.host]
        words = [w.lower() if w.lower() in ("all", "loopback-only") else w
                 for w in self.config(cfg).list("inet_interfaces")]
        if not words or "all" in words:
            return None
        if "loopback-only" in words:
            return ["127.0.0.1", "::1"]
        return [w[1:-1] if w.startswith("[") and w.endswith("]") else w for w in words]


def port_number(text: str, path: str, line: int) -> int:
    if is_digits(text):
        port = int(text)
        if 0 < port < 65536:
            return port
        raise ConfigError(f'bad port number "{text}"', path, line)
    try:
        return socket.getservbyname(text, "tcp")
    except (OSError, UnicodeError):  # UnicodeError: bytes that are not UTF-8 (surrogates)
        if text in WELL_KNOWN_PORTS:
            return WELL_KNOWN_PORTS[text]
    raise ConfigError(f'unknown service name "{text}" (not in /etc/services)', path, line)


def split_endpoint(service: str, path: str, line: int) -> tuple[str | None, int]:
    """`[host:]port` with an IPv6 host in brackets -> (host or None, port)."""
    m = re.fullmatch(r"\[([^\]]*)\]:([^:]+)", service)
    if m:
        host, port = m.group(1), m.group(2)
    elif ":" in service:
        host, port = service.rsplit(":", 1)
        if ":" in host:
            raise ConfigError(f'IPv6 address must be in brackets: "{service}"', path, line)
    else:
        host, port = None, service
    return host, port_number(port, path, line)


def tokenize(text: str, path: str, line: int) -> list[str]:
    """Split on whitespace; `{ ... }` is one token (braces kept, as in `-o { a = b }`)."""
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] == "{":
            depth, j = 0, i
            while j < n:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            if depth:
                raise ConfigError(f'missing "}}" in "{text.strip()}"', path, line)
            tokens.append(text[i:j + 1])
            i = j + 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        tokens.append(text[i:j])
        i = j
    return tokens


def parse_override(arg: str, path: str, line: int) -> tuple[str, str]:
    """`name=value` or `{ name = value with spaces }` (config.md §6, field 8)."""
    if arg.startswith("{"):
        arg = arg[1:-1]
    name, sep, value = arg.partition("=")
    name = name.strip()
    if not sep or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ConfigError(f'bad -o option: "{arg.strip()}" (expected name=value)', path, line)
    return name, value.strip()


# the options of a Postfix daemon's command line that take an argument (-o name=value, -n
# service name, -t transport, ...)
_OPTIONS_WITH_ARGUMENT = frozenset("imnost")


def parse_command(words: list[str], path: str,
                  line: int) -> tuple[dict[str, str], tuple[str, ...]]:
    """The -o overrides and the other words of a command, read as a Postfix daemon's option
    parser reads them: letters may be grouped (`-vo name=value`), an option's argument is the
    rest of its word or the next word, and options end at the first word that is not one (in
    `pipe flags=R argv=spamc -oi ...` the `-oi` belongs to the command pipe runs)."""
    overrides: dict[str, str] = {}
    args: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--" or not word.startswith("-") or word == "-":
            args.extend(words[i - (word != "--"):])
            break
        flags = ""  # the letters without an argument (e.g. -v), kept as written
        for j in range(1, len(word)):
            letter = word[j]
            if letter not in _OPTIONS_WITH_ARGUMENT:
                flags += letter
                continue
            value = word[j + 1:]
            if not value and i < len(words):
                value, i = words[i], i + 1
            if letter != "o":
                args += [f"-{letter}", value]
            elif not value:
                raise ConfigError('-o needs an argument "name=value"', path, line)
            else:
                name, val = parse_override(value, path, line)
                overrides[name] = val
            break
        if flags:
            args.append(f"-{flags}")
    return overrides, tuple(args)


_FIELD_NAMES = ("service", "type", "private", "unpriv", "chroot", "wakeup", "maxproc")


def _check_fields(fields: list[str], path: str, line: int) -> None:
    if fields[1] not in SERVICE_TYPES:
        raise ConfigError(f'unknown service type "{fields[1]}"', path, line)
    for index in (2, 3, 4):
        if fields[index] not in ("y", "n", "-"):
            raise ConfigError(f'bad {_FIELD_NAMES[index]} field "{fields[index]}" '
                              "(expected y, n or -)", path, line)
    if not re.fullmatch(r"-|[0-9]+\??", fields[5]):
        raise ConfigError(f'bad wakeup field "{fields[5]}"', path, line)
    if not re.fullmatch(r"-|[0-9]+", fields[6]):
        raise ConfigError(f'bad maxproc field "{fields[6]}"', path, line)
    if fields[1] == "inet" and fields[2] == "y":
        raise ConfigError(f'inet service "{fields[0]}" cannot be private (field 3 must be n)',
                          path, line)


def parse_line(ll: LogicalLine, path: str) -> tuple[MasterService | None, Warning_ | None]:
    """One logical line -> the service affix runs, or a warning saying why it is skipped."""
    words = tokenize(ll.text, path, ll.line)
    if len(words) < 8:
        raise ConfigError(f'bad field count ({len(words)} of 8) in "{ll.text.strip()}"',
                          path, ll.line)
    _check_fields(words, path, ll.line)
    service, kind, command = words[0], words[1], words[7].rsplit("/", 1)[-1]
    overrides, args = parse_command(words[8:], path, ll.line)
    if kind == "inet" and command in ("smtpd", "postscreen"):
        host, port = split_endpoint(service, path, ll.line)
        warn = None
        if command == "postscreen":
            warn = Warning_(path, ll.line, f"service {service}: postscreen is not "
                            "implemented; affix runs smtpd on this port")
        return MasterService(service, host, port, overrides, ll.line, path, command,
                             args, tuple(words[2:7])), warn
    if kind == "pass" and command == "smtpd":  # postscreen's hand-off (parse_mastercf)
        return MasterService(service, None, 0, overrides, ll.line, path, command, args,
                             tuple(words[2:7]), kind), None
    if command in BUILT_IN and kind != "inet":
        return None, None
    return None, Warning_(path, ll.line, f"service {service} ({kind} {command}) is not run "
                          "by affix; line skipped")


def parse_mastercf(text: str, path: str = "master.cf",
                   ) -> tuple[list[MasterService], list[Warning_]]:
    """Every smtpd service (for a name and type given twice, the last wins) and the warnings."""
    services: dict[str, MasterService] = {}
    handoffs: dict[str, MasterService] = {}
    warnings: list[Warning_] = []
    for ll in logical_lines(text):
        if ll.text[0].isspace():
            warnings.append(Warning_(path, ll.line, "logical line must not start with "
                                     f'whitespace: "{ll.text.strip()}"'))
            continue
        svc, warn = parse_line(ll, path)
        if warn is not None:
            warnings.append(warn)
        if svc is not None and svc.kind == "pass":
            handoffs[svc.name] = svc
        elif svc is not None:
            services.pop(svc.name, None)
            services[svc.name] = svc
    return _behind_postscreen(list(services.values()), handoffs, warnings), warnings


def _behind_postscreen(services: list[MasterService], handoffs: dict[str, MasterService],
                       warnings: list[Warning_]) -> list[MasterService]:
    """A postscreen port runs smtpd with the -o settings of the `smtpd pass` service that
    postscreen would hand its clients to: with Postfix, those apply to all port 25 mail."""
    handoff = handoffs.get("smtpd")
    out = []
    for svc in services:
        if svc.command == "postscreen" and handoff is not None:
            svc = replace(svc, overrides={**svc.overrides, **handoff.overrides})
            warnings.append(Warning_(handoff.path, handoff.line, f"service {handoff.name} "
                                     f"(pass smtpd): its -o settings apply to service "
                                     f"{svc.name}, where affix runs smtpd for postscreen"))
            handoffs.pop("smtpd", None)
        out.append(svc)
    for unused in handoffs.values():  # nothing hands clients to them
        warnings.append(Warning_(unused.path, unused.line, f"service {unused.name} (pass "
                                 "smtpd) is not run by affix; line skipped"))
    return out


# Used when a config directory has no master.cf: Postfix's standard SMTP service on port 25.
DEFAULT_MASTERCF = "smtp inet n - n - - smtpd\n"


def load_master(config_dir: str | None) -> tuple[list[MasterService], list[Warning_]]:
    """DIR/master.cf, the built-in default when DIR has none, the embedded one without DIR."""
    if config_dir is None:
        from affix.config.embedded import embedded_mastercf

        return parse_mastercf(embedded_mastercf(), "(built-in master.cf)")
    path = os.path.join(config_dir, "master.cf")
    if not os.path.exists(path):
        return parse_mastercf(DEFAULT_MASTERCF, f"{path} (missing; default)")
    return parse_mastercf(read_text(path), path)
