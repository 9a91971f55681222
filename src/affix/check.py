"""Configuration checks shared by `affix check`, `affix start` and reload.

The foundation checks syntax, every parameter's type and master.cf. Other areas add their own
checks (unknown restriction names, tables that cannot be opened, the relay-restriction rule)
by appending "module:function" to VALIDATORS; each function takes (cfg, services) and returns
(or yields) ConfigError problems and/or Warning_ notes. They are imported when a check runs,
so this module stays at the bottom of the import graph.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from affix.config.errors import ConfigError
from affix.config.maincf import Warning_
from affix.config.mastercf import MasterService, load_master
from affix.config.params import PARAMS
from affix.config.snapshot import (
    Config,
    did_you_mean,
    load_config,
    postfix_parameter_names,
    referenced_names,
)
from affix.config.unsupported import missing_feature

Validator = Callable[[Config, Sequence[MasterService]], Iterable[ConfigError | Warning_]]

# "module:function" of every area's validator, run in this order after the foundation's own.
VALIDATORS: list[str] = [
    "affix.check:check_parameter_types",
    "affix.check:check_names_and_types",
    "affix.check:check_queue_directory",
    "affix.check:check_match_lists",
    "affix.check:check_unimplemented",
    "affix.check:check_tls_files",
    "affix.check:check_service_overrides",
    "affix.check:check_restriction_lists",
    "affix.check:check_policy_sockets",
    "affix.check:check_virtual_setup",
    "affix.check:check_tables",
]


@dataclass(frozen=True)
class Checked:
    """A configuration that passed: main.cf snapshot, smtpd services, and the warnings."""

    cfg: Config
    services: tuple[MasterService, ...]
    warnings: tuple[Warning_, ...]


class ConfigProblems(ConfigError):
    """Several problems at once; str() gives one `file:line: what is wrong` per line.
    `warnings`: what the checks also noticed (shown with the problems by `affix check`)."""

    def __init__(self, problems: Sequence[ConfigError], warnings: Sequence[Warning_] = ()):
        self.problems = list(problems)
        self.warnings = list(warnings)
        super().__init__("\n".join(str(p) for p in self.problems))


def check_parameter_types(cfg: Config, services: Sequence[MasterService]) -> list[ConfigError]:
    return cfg.validate()


def check_names_and_types(cfg: Config,
                          services: Sequence[MasterService]) -> Iterable[ConfigError]:
    """Values Postfix refuses to start with: a host name that is no host name (myhostname,
    and mydomain, which the default myhostname is built from), a table type affix cannot
    build (default_database_type)."""
    from affix.dns.names import valid_hostaddr, valid_hostname
    from affix.tables.indexed import INDEXED_TYPES

    for name in ("myhostname", "mydomain"):
        try:
            value = cfg.get(name).strip()
        except ConfigError:
            continue  # a bad $ expression: the type check reports it with the rest
        if value and (not valid_hostname(value) or valid_hostaddr(value)):
            yield ConfigError(f"bad parameter value: {name} = {value} (need a host name)",
                              *cfg.position(name))
    try:
        kind = cfg.get("default_database_type").strip()
    except ConfigError:
        return
    if kind not in INDEXED_TYPES:
        yield ConfigError(f"unsupported dictionary type: default_database_type = {kind} "
                          f"(one of: {', '.join(INDEXED_TYPES)})",
                          *cfg.position("default_database_type"))


# What only Postfix's queue directory has (affix's has none of them): its daemons' private
# sockets, its pid files, its saved and fast-flush files. (maildrop/ and public/ are in both.)
_POSTFIX_QUEUE_MARKS = ("private", "pid", "saved", "flush")


def check_queue_directory(cfg: Config, services: Sequence[MasterService]) -> Iterable[ConfigError]:
    """A main.cf copied from Postfix may name Postfix's own queue_directory: affix would take
    Postfix's queue files for its own (incomplete ones removed, the others moved to corrupt).
    Refused before anything is touched."""
    try:
        queue = cfg.get("queue_directory")
    except ConfigError:
        return
    marks = [m for m in _POSTFIX_QUEUE_MARKS if os.path.isdir(os.path.join(queue, m))]
    if len(marks) >= 2:
        yield ConfigError(f"queue_directory = {queue} is Postfix's queue (it has "
                          f"{' and '.join(m + '/' for m in marks)}): affix would take Postfix's "
                          "queue files for its own; give affix a queue directory of its own "
                          f"(default {PARAMS['queue_directory'].default})",
                          *cfg.position("queue_directory"))


# Parameters whose value is a match list (tables.md §7) of networks and names.
_MATCH_LISTS = ("mynetworks", "mydestination", "relay_domains", "smtpd_authorized_xclient_hosts",
                "smtpd_client_event_limit_exceptions", "fast_flush_domains")


def check_match_lists(cfg: Config, services: Sequence[MasterService]) -> Iterable[ConfigError]:
    """An element no address can match (`192.168.1.0/33`, `10.0.0.1/8` with host bits set, a
    missing /file) makes every search that reaches it a temporary failure: with mynetworks,
    451 to every client. Refused here instead."""
    from affix.tables.matchlist import MatchList

    for svc_cfg in (cfg, *(svc.config(cfg) for svc in services)):
        for name in _MATCH_LISTS:
            if name not in svc_cfg.entries and name not in svc_cfg.overrides:
                continue  # a default ($mynetworks...): reported where it is set, if at all
            try:
                patterns = MatchList(svc_cfg, name).patterns
            except ConfigError:
                continue  # a bad $ expression: the type check reports it
            for p in patterns:
                if p.kind == "error":
                    yield ConfigError(f"bad parameter value: {p.text}", *svc_cfg.position(name))


def check_unimplemented(cfg: Config,
                        services: Sequence[MasterService]) -> Iterable[Warning_]:
    """Settings affix knows but cannot honour yet: said at start, so that nobody relies on
    them (README, "What affix does not do")."""
    for svc in services:
        svc_cfg = svc.config(cfg)
        try:
            sasl = svc_cfg.bool("smtpd_sasl_auth_enable")
        except ConfigError:
            continue  # the type check reports it
        if sasl:
            file, line = svc_cfg.position("smtpd_sasl_auth_enable")
            yield Warning_(file or cfg.main_cf, line or 0,
                           f"service {svc.name}: smtpd_sasl_auth_enable = yes has no effect: "
                           "SASL authentication is not implemented (AUTH is not offered)")


def check_tls_files(cfg: Config, services: Sequence[MasterService]) -> Iterable[Warning_]:
    """A certificate that cannot be loaded does not stop the server (Postfix's smtpd goes on
    without STARTTLS too), but it should not be found only in the log: with level encrypt,
    every client of that service is refused."""
    from affix.smtpd.tls import server_context

    found: dict[str, list[str]] = {}
    refused: set[str] = set()
    for svc in services:
        svc_cfg = svc.config(cfg)
        try:
            level = svc_cfg.get("smtpd_tls_security_level").strip().lower()
        except ConfigError:
            continue
        if level not in ("may", "encrypt"):
            continue
        problem = server_context(svc_cfg)[1]
        if problem:
            found.setdefault(problem, []).append(svc.name)
            if level == "encrypt":
                refused.add(svc.name)
    for problem, names in found.items():
        file, line = cfg.position("smtpd_tls_cert_file")
        lost = [n for n in names if n in refused]
        yield Warning_(file or cfg.main_cf, line or 0,
                       f"STARTTLS is not available (service {', '.join(names)}): {problem}"
                       + (f"; smtpd_tls_security_level = encrypt: every client of "
                          f"{', '.join(lost)} is refused" if lost else ""))


def check_service_overrides(cfg: Config,
                            services: Sequence[MasterService]) -> Iterable[ConfigError | Warning_]:
    """Each service's -o values are type-checked in the service's own snapshot."""
    for svc in services:
        svc_cfg = svc.config(cfg)
        for name, value in svc.overrides.items():
            missing = missing_feature(name, svc_cfg.expanded_or_raw(name, value))
            if missing:
                yield Warning_(svc.path, svc.line, "Postfix feature affix does not have: "
                               f"-o {name}={value} ({missing})")
                continue
            if name not in PARAMS and name not in cfg.entries:
                if name in postfix_parameter_names():  # as for main.cf (unused_warnings)
                    yield Warning_(svc.path, svc.line, "Postfix parameter not used by affix: "
                                   f"-o {name}={value}")
                    continue
                yield Warning_(svc.path, svc.line, f"unknown parameter in -o {name}={value}"
                               + did_you_mean(name))
                continue
            param = PARAMS.get(name)
            if param is None or not param.raw:
                for message in cfg.undefined_in(f"-o {name}", value):
                    yield Warning_(svc.path, svc.line, message)
            try:
                svc_cfg.check_value(name)
            except ConfigError as e:
                yield e


def check_restriction_lists(cfg: Config,
                            services: Sequence[MasterService]) -> Iterable[ConfigError]:
    """Unknown restriction names, bad arguments and the relay rule (config.md §3), per service
    (area policy: affix.policy.validate).

    Postfix starts with an unknown name and answers 451 4.3.5 to every request that reaches it
    (pitfalls P01: the memo's `//` comment defers all inbound mail). affix refuses to start
    instead and names the line: a typo must not quietly turn away mail.
    """
    from affix.policy.validate import check_restrictions

    for svc in services:
        for problem in check_restrictions(svc.config(cfg)):
            yield ConfigError(problem)


def check_virtual_setup(cfg: Config, services: Sequence[MasterService]) -> Iterable[Warning_]:
    """A virtual mailbox setup whose deliveries would all wait (delivery/virtual.py)."""
    from affix.delivery.virtual import setup_problems

    for name, problem in setup_problems(cfg):
        file, line = cfg.position(name)
        yield Warning_(file or cfg.main_cf, line or 0,
                       f"{problem}: when affix runs as root, every virtual delivery waits in "
                       "the queue (4.3.5 mail system configuration error)")


def check_policy_sockets(cfg: Config,
                         services: Sequence[MasterService]) -> Iterable[Warning_]:
    """A check_policy_service on a UNIX socket that nobody listens on gives every client that
    reaches it the default action (451 4.3.5 unless changed). The usual cause: the policy
    server was a master.cf `spawn` service (policyd-spf), which affix does not run."""
    from affix.policy.validate import unix_policy_services

    seen: set[str] = set()
    for svc in services:
        scfg = svc.config(cfg)
        for param, value, endpoint in unix_policy_services(scfg):
            if endpoint.path in seen or _listening(endpoint.path):
                continue
            seen.add(endpoint.path)
            action = endpoint.default_action.strip()
            outcome = (f"is deferred ({action})" if action[:1] == "4"
                       else f"gets the default action {action}")
            file, line = scfg.position(param)
            yield Warning_(file or cfg.main_cf, line or 0,
                           f"{param}: check_policy_service {value}: no policy server "
                           f"listens on {endpoint.path}: every request that reaches it "
                           f"{outcome} until one does (affix does not run master.cf spawn "
                           "services: start the policy server yourself)")


def _listening(path: str) -> bool:
    """Whether a server accepts connections on the UNIX socket `path` (a socket file left
    behind by a stopped server does not count)."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def check_tables(cfg: Config,
                 services: Sequence[MasterService]) -> Iterable[ConfigError | Warning_]:
    """Every table a restriction list or parameter names must open (issue: a missing table is
    reported before the server answers 451 for it). A bad line or rule in a source, and an
    index older than its source, are warnings: that line is skipped (the rest of the table
    works) or the old index answers, as in Postfix, and one typo must not keep the server
    down after a reboot. The doctor knows where each reference stands; the tables area says
    what is wrong with it."""
    from affix.doctor.context import LintContext
    from affix.tables.check import check_table, is_skipped_line, is_stale

    for ref in LintContext(cfg.config_dir).table_refs():
        problems = (_alias_table_problems(ref.spec, cfg) if ref.used_by in _ALIAS_PARAMS
                    else check_table(ref.spec, cfg))
        for problem in problems:
            text = f"{ref.used_by}: {problem}"
            if is_stale(problem) or is_skipped_line(problem):
                yield Warning_(ref.where.file, ref.where.line, text)
            else:
                yield ConfigError(text, ref.where.file, ref.where.line)


_ALIAS_PARAMS = frozenset({"alias_maps", "alias_database"})


def _alias_table_problems(spec: str, cfg: Config) -> list[str]:
    """An alias table's source is in aliases(5) format (`name: value`, built by newaliases),
    not postmap's: check it with the aliases parser, then that the table opens."""
    from affix.delivery.aliases import parse_alias_source
    from affix.tables import TableError, open_table

    problems: list[str] = []
    path = spec.partition(":")[2]
    if ":" in spec and os.path.isfile(path):
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                problems += parse_alias_source(f.read(), path)[1]
        except OSError as e:
            problems.append(str(e))
    try:
        open_table(spec, cfg).close()
    except TableError as e:
        # an alias index is built by newaliases (from the tables alias_database names), not by
        # postmap's counterpart
        hint = 'run "affix newaliases"'
        if spec not in cfg.list("alias_database"):
            hint = f'list {spec} in alias_database too, then run "affix newaliases"'
        problems.append(re.sub(r'run "affix map [^"]*"', hint, str(e)))
    return problems


def _resolve(spec: str) -> Validator:
    module, _, func = spec.partition(":")
    return getattr(importlib.import_module(module), func)


def run_validators(cfg: Config, services: Sequence[MasterService],
                   ) -> tuple[list[ConfigError], list[Warning_]]:
    problems: list[ConfigError] = []
    notes: list[Warning_] = []
    for spec in VALIDATORS:
        for item in _resolve(spec)(cfg, services) or ():
            target: list = notes if isinstance(item, Warning_) else problems
            if str(item) not in {str(x) for x in target}:
                target.append(item)
    return problems, notes


def check_config(config_dir: str | None) -> Checked:
    """Load and check everything; raises ConfigProblems listing every problem found."""
    syntax: list[ConfigError] = []
    try:
        cfg = load_config(config_dir)
    except ConfigError as e:
        syntax.append(e)
    try:
        services, master_warnings = load_master(config_dir)
    except ConfigError as e:
        syntax.append(e)
    if syntax:  # a file that does not parse: report it (and the other file's) and stop here
        raise ConfigProblems(syntax)
    problems, notes = run_validators(cfg, services)
    used = {name for svc in services for name in svc.overrides}
    for svc in services:  # master.cf `-o x=$name` uses name too (config.md §1)
        for value in svc.overrides.values():
            used |= referenced_names(value)
    warnings = [*cfg.warnings, *cfg.unused_warnings(used), *cfg.undefined_warnings(used),
                *master_warnings, *notes]
    if problems:
        raise ConfigProblems(sorted(problems, key=lambda p: (p.file or "", p.line or 0)),
                             warnings)
    return Checked(cfg, tuple(services), tuple(warnings))


def lint_hint(config_dir: str | None) -> str | None:
    """One line for `affix check` when `affix lint` finds errors or warnings in a
    configuration that passed: they do not stop the server, so check still exits 0."""
    try:
        from affix.doctor import lint_findings
        from affix.doctor.findings import Severity

        found = [f.severity for f in lint_findings(config_dir)]
    except Exception:  # noqa: BLE001 - a hint must never break `affix check`
        return None
    errors, warnings = found.count(Severity.ERROR), found.count(Severity.WARNING)
    if not errors and not warnings:
        return None
    counts = ", ".join(f"{n} {word}{'s' if n > 1 else ''}" for n, word in
                       ((errors, "error"), (warnings, "warning")) if n)
    return f'note: {counts} from affix lint (they do not stop the server); run "affix lint"'
