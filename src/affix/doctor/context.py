"""What every lint check reads: main.cf (parsed even when a line is broken), the services that
run smtpd, their restriction lists element by element with file and line, and every table
they reference. Lists are paired into (restriction, argument) with the policy registry, the
same way the engine walks them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from affix.config.errors import ConfigError
from affix.config.maincf import Entry, logical_lines
from affix.config.mastercf import MasterService
from affix.config.params import PARAMS, Kind
from affix.config.snapshot import Config, config_from_text
from affix.doctor.findings import Where
from affix.doctor.master import override_where, read_master
from affix.policy import lists as L
from affix.policy import restrictions as _restrictions  # noqa: F401 - registers them all
from affix.policy.registry import Arg, RestrictionSpec, lookup
from affix.tables.opener import OPENERS


@dataclass(frozen=True)
class Item:
    """One element of a list-valued parameter, and where it is written."""
    text: str
    where: Where


@dataclass(frozen=True)
class Step:
    """One restriction of a list with its argument (if it takes one)."""
    item: Item
    arg: Item | None
    spec: RestrictionSpec | None

    @property
    def name(self) -> str:
        return self.item.text.lower()

    @property
    def label(self) -> str:
        return f"{self.item.text} {self.arg.text}" if self.arg else self.item.text

    @property
    def is_table(self) -> bool:
        return self.spec is None and ":" in self.item.text


@dataclass(frozen=True)
class Service:
    """A set of parameter values smtpd runs with: a master.cf smtpd service (main.cf plus its
    -o overrides), or main.cf alone when master.cf runs no smtpd."""
    name: str
    cfg: Config
    override_where: dict[str, Where] = field(default_factory=dict)
    master: MasterService | None = None  # None: main.cf alone

    def overrides(self, *names: str) -> list[str]:
        """Which of these parameters this service sets with -o."""
        return [n for n in names if n in self.override_where]

    def tag(self, *names: str) -> str:
        """`service NAME: ` when one of these parameters comes from its -o, else empty: a
        finding on a main.cf line is the same for every service that uses the line."""
        return f"service {self.name}: " if self.overrides(*names) else ""


@dataclass(frozen=True)
class RestrictionList:
    service: Service
    param: str  # smtpd_*_restrictions, or a restriction class name
    steps: tuple[Step, ...]
    bare_table: str | None  # what a bare type:table means in this list


@dataclass(frozen=True)
class TableRef:
    spec: str
    where: Where
    used_by: str  # check_client_access, ..., or the parameter name (header_checks)


@dataclass(frozen=True)
class ParseProblem:
    where: Where
    text: str  # the logical line that could not be parsed
    message: str


def _bare_table_meaning(param: str) -> str | None:
    if param not in L.ALL_LISTS:
        return "check_client_access"  # classes take the caller's meaning; client is typical
    return L.CONTEXTS[param].bare_table


class LintContext:
    """config_dir None lints the embedded default configuration (affix.config.embedded)."""

    def __init__(self, config_dir: str | None, dns: bool = False):
        self.config_dir = config_dir
        self.dns = dns
        if config_dir is None:
            from affix.config.embedded import embedded_maincf

            self.maincf, self.text = "(built-in main.cf)", embedded_maincf()
        else:
            self.maincf = os.path.join(config_dir, "main.cf")
            with open(self.maincf, encoding="utf-8", errors="surrogateescape") as f:
                self.text = f.read()
        self.lines = self.text.splitlines()
        self.parse_problems: list[ParseProblem] = []
        self.cfg = self._parse(self.text)
        self.master = read_master(config_dir)
        self.services = self._services()

    # --- main.cf ---------------------------------------------------------------------------
    def _parse(self, text: str) -> Config:
        """Parse main.cf; a line Postfix would die on is reported and left out."""
        for _ in range(len(self.lines) + 1):
            try:
                return config_from_text(self.config_dir, text, self.maincf)
            except ConfigError as e:
                if not e.line:
                    raise
                text = self._drop_line(text, e)
        raise ConfigError("too many unparsable lines", self.maincf)

    def _drop_line(self, text: str, err: ConfigError) -> str:
        lines = text.splitlines()
        for ll in logical_lines(text):
            if ll.line == err.line:
                self.parse_problems.append(ParseProblem(
                    Where(self.maincf, ll.line), ll.text.strip(), err.message))
                for n in range(ll.line - 1, ll.end_line):
                    lines[n] = ""
                break
        return "\n".join(lines) + "\n"

    def _services(self) -> list[Service]:
        """Each inet smtpd service of master.cf with its effective configuration."""
        services = [Service(svc.name, _effective(self.cfg, svc),
                            override_where(self.master, svc), svc)
                    for svc in self.master.services]
        return services or [Service("main.cf", self.cfg)]

    def entry(self, name: str) -> Entry | None:
        return self.cfg.entries.get(name)

    def where(self, name: str, service: Service | None = None) -> Where:
        if service is not None and name in service.override_where:
            return service.override_where[name]
        entry = self.entry(name)
        return Where(self.maincf, entry.line if entry else None)

    def entry_lines(self, entry: Entry) -> Iterator[tuple[int, str]]:
        """(line number, text) of each physical line of an entry; the first without `name =`."""
        for number in range(entry.line, entry.end_line + 1):
            raw = self.lines[number - 1]
            if number == entry.line:
                yield number, raw.partition("=")[2]
            elif raw.strip() and not raw.strip().startswith("#"):
                yield number, raw

    def items(self, name: str, service: Service | None = None) -> list[Item]:
        """A list parameter's elements (expanded) with the line each is written on."""
        cfg = service.cfg if service else self.cfg
        values = cfg.list(name)
        entry = self.entry(name)
        if entry is None or (service is not None and name in service.override_where):
            where = self.where(name, service)
            return [Item(v, where) for v in values]
        return self._placed(entry, values)

    def _placed(self, entry: Entry, values: list[str]) -> list[Item]:
        offsets: list[tuple[int, int]] = []  # (offset in the joined value, line)
        joined = ""
        for number, text in self.entry_lines(entry):
            offsets.append((len(joined), number))
            joined += text
        items, cursor = [], 0
        for value in values:
            at = joined.find(value, cursor)
            line = entry.line
            if at >= 0:
                cursor = at + len(value)
                line = max(n for start, n in offsets if start <= at)
            items.append(Item(value, Where(self.maincf, line)))
        return items

    # --- restriction lists -----------------------------------------------------------------
    def classes(self, service: Service) -> list[str]:
        return service.cfg.list("smtpd_restriction_classes")

    def restriction_lists(self) -> Iterator[RestrictionList]:
        """Every smtpd list and restriction class of every service. A list a service takes
        from main.cf is yielded for each such service (its findings name the same main.cf
        line and are merged), since what it means can depend on the service (SASL on?)."""
        for service in self.services:
            names = list(L.ALL_LISTS) + self.classes(service)
            for param in dict.fromkeys(names):
                steps = tuple(pair_steps(self.items(param, service)))
                yield RestrictionList(service, param, steps, _bare_table_meaning(param))

    # --- tables ----------------------------------------------------------------------------
    def table_refs(self) -> list[TableRef]:
        """Each table referenced by a restriction list or a parameter (once per spec)."""
        refs: dict[str, TableRef] = {}
        for rl in self.restriction_lists():
            for step in rl.steps:
                if step.spec is not None and step.spec.arg is Arg.TABLE and step.arg:
                    refs.setdefault(step.arg.text, TableRef(step.arg.text, step.arg.where,
                                                            step.spec.name))
                elif step.is_table and rl.bare_table:
                    refs.setdefault(step.item.text, TableRef(step.item.text, step.item.where,
                                                             rl.bare_table))
        for service in self.services:
            for name in self._set_params(service):
                param = PARAMS.get(name)
                if param is None or param.kind not in (Kind.MAPS, Kind.LIST):
                    continue
                for item in self.items(name, service):
                    if _is_table(item.text):
                        refs.setdefault(item.text, TableRef(item.text, item.where, name))
        return list(refs.values())

    def _set_params(self, service: Service) -> list[str]:
        return list(dict.fromkeys([*self.cfg.entries, *service.override_where]))


def _effective(cfg: Config, svc: MasterService) -> Config:
    """main.cf plus the service's -o overrides, leaving out any of the wrong type (reported
    once as AFX-MCF-005) so that the other checks can still read the rest."""
    full = svc.config(cfg)
    bad = set()
    for name in svc.overrides:
        try:
            full.check_value(name)
        except ConfigError:
            bad.add(name)
    if not bad:
        return full
    good = {k: v for k, v in svc.overrides.items() if k not in bad}
    return cfg.with_overrides({"service_name": svc.service_name, **good}, svc.source)


def _is_table(text: str) -> bool:
    type_, sep, name = text.partition(":")
    return bool(sep and name) and type_.lower() in OPENERS


def pair_steps(items: list[Item]) -> Iterator[Step]:
    """(restriction, argument) pairs, as affix.policy.evaluation walks a list."""
    i = 0
    while i < len(items):
        item, i = items[i], i + 1
        spec = lookup(item.text)
        arg = None
        if spec is not None and spec.arg is not Arg.NONE and i < len(items):
            arg, i = items[i], i + 1
        yield Step(item, arg, spec)
