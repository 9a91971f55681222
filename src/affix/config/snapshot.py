"""The Config snapshot: main.cf values over the registry defaults, typed and expanded.

A Config never changes after it is built; reload builds a new one. A master.cf service gets
its own snapshot through `with_overrides` (its `-o name=value` settings).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from affix.ascii import is_digits
from affix.config import netif
from affix.config.errors import ConfigError
from affix.config.maincf import Entry, ExpansionError, Warning_, expand, parse_maincf
from affix.config.params import PARAMS, Kind
from affix.config.unsupported import missing_feature

_TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def split_list(value: str) -> list[str]:
    """Split on commas and whitespace; `{ ... }` groups one element (braces kept)."""
    items: list[str] = []
    buf: list[str] = []
    depth = 0
    for c in value:
        if c == "{":
            depth += 1
        elif c == "}":
            depth = max(0, depth - 1)
        if depth == 0 and (c == "," or c.isspace()):
            if buf:
                items.append("".join(buf))
                buf = []
            continue
        buf.append(c)
    if buf:
        items.append("".join(buf))
    return items


def system_hostname() -> str:
    """gethostname() as it is; Postfix qualifies it without any DNS lookup (see myhostname)."""
    return socket.gethostname() or "localhost"


@cache
def postfix_parameter_names() -> frozenset[str]:
    """Every parameter name Postfix 3.7 knows (`postconf -d`), affix uses some of them."""
    from importlib import resources  # only for warnings; it loads tempfile, shutil, zipfile

    text = resources.files("affix").joinpath("data/postfix-3.7-parameters.txt").read_text()
    return frozenset(text.split())


def _computed_myhostname(cfg: Config) -> str:
    # config.md §4: `.$mydomain` (else `.localdomain`) is appended to a name without a dot.
    host = system_hostname()
    if "." in host:
        return host
    return f"{host}.{cfg.get('mydomain') if cfg.is_set('mydomain') else 'localdomain'}"


def _computed_mydomain(cfg: Config) -> str:
    host = cfg.get("myhostname")
    return host.split(".", 1)[1] if "." in host.strip(".") else "localdomain"


def _computed_mynetworks(cfg: Config) -> str:
    versions = set()
    for word in cfg.list("inet_protocols"):
        versions |= {"ipv4": {4}, "ipv6": {6}}.get(word.lower(), {4, 6})
    style = cfg.get("mynetworks_style").strip().lower()
    return netif.mynetworks(style, netif.local_interfaces(), frozenset(versions or {4, 6}))


# Defaults that depend on the host (config.md §4), computed when the parameter is not set.
COMPUTED: dict[str, Callable[[Config], str]] = {
    "myhostname": _computed_myhostname,
    "mydomain": _computed_mydomain,
    "mynetworks": _computed_mynetworks,
}


@dataclass(frozen=True)
class Config:
    """An immutable snapshot of main.cf (plus per-service overrides)."""

    config_dir: str | None
    entries: Mapping[str, Entry]
    warnings: tuple[Warning_, ...] = ()
    overrides: Mapping[str, str] = field(default_factory=dict)
    computed: Mapping[str, str] = field(default_factory=dict)
    override_source: tuple[str, int] | None = None  # (master.cf path, line) of the -o options
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # --- raw values -----------------------------------------------------------------------
    def raw(self, name: str) -> str | None:
        """The unexpanded value: override, main.cf, computed default, registry default."""
        if name in self.overrides:
            return self.overrides[name]
        entry = self.entries.get(name)
        if entry is not None:
            return entry.value
        return self.default(name)

    def default(self, name: str) -> str | None:
        """The built-in default (host-dependent ones computed), ignoring main.cf."""
        if name in self.computed:
            return self.computed[name]
        param = PARAMS.get(name)
        if param is not None and not param.default and name in COMPUTED:
            key = "\0default:" + name  # memo: computing mynetworks runs `ip`
            if key not in self._memo:
                self._memo[key] = COMPUTED[name](self)
            return self._memo[key]
        return param.default if param else None

    def is_set(self, name: str) -> bool:
        return name in self.overrides or name in self.entries

    @property
    def main_cf(self) -> str:
        return os.path.join(self.config_dir, "main.cf") if self.config_dir else "(built-in)"

    def where(self, name: str) -> str:
        """`file:line` of a parameter's definition, for error messages."""
        file, line = self._pos(name)
        if file is None:
            return f"{self.main_cf}: (default)"
        return f"{file}:{line}" if line else file

    def where_word(self, name: str, word: str) -> str:
        """`file:line` of the physical line of a parameter's main.cf definition that holds
        `word` (a list written over several lines: the line of that element); where() when
        it cannot be told."""
        file, line = self._pos(name)
        entry = self.entries.get(name)
        if entry is None or file != self.main_cf or line != entry.line:
            return self.where(name)
        try:
            with open(file, encoding="utf-8", errors="surrogateescape") as f:
                lines = f.read().splitlines()[entry.line - 1:entry.end_line]
        except OSError:
            return self.where(name)
        alone = re.compile(rf"(?:^|[\s,=]){re.escape(word)}(?:$|[\s,])")  # a whole element
        found = next((i for i, text in enumerate(lines) if alone.search(text)), 0)
        return f"{file}:{entry.line + found}"

    # --- typed access ---------------------------------------------------------------------
    def get(self, name: str) -> str:
        """The expanded value ('' when unknown); bad `$` syntax raises ConfigError.

        Parameters the registry marks `raw` (default_rbl_reply, smtpd_reject_footer, ...) come
        back unexpanded: their users expand them per event with their own variables.
        """
        if name in self._memo:
            return self._memo[name]
        raw = self.raw(name)
        param = PARAMS.get(name)
        if param is not None and param.raw:
            return raw or ""
        try:
            value = "" if raw is None else expand(raw, self._expansion_raw, _stack=(name,))
        except ExpansionError as e:
            culprit = e.param or name
            raise ConfigError(f"parameter {culprit}: {e.message}", *self._pos(culprit)) from None
        if name == "myorigin" and value.startswith("/"):
            value = self._mailname(value)
        self._memo[name] = value
        return value

    def _expansion_raw(self, name: str) -> str | None:
        """What `$name` stands for inside another value: the raw value, but for a myorigin
        that names a file, the mail name in it (`mydestination = $myorigin, localhost`)."""
        raw = self.raw(name)
        if name == "myorigin" and raw is not None and raw.strip().startswith("/"):
            return self.get("myorigin")
        return raw

    def _mailname(self, path: str) -> str:
        """Debian's `myorigin = /etc/mailname`: the domain is the file's first line (as its
        Postfix reads it; upstream Postfix would take the path itself as the domain)."""
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                first = f.readline().strip()
        except OSError as e:
            raise ConfigError(f"myorigin = {path}: cannot read the mail name from it: "
                              f"{e.strerror}", *self._pos("myorigin")) from None
        if not first:
            raise ConfigError(f"myorigin = {path}: the file's first line is empty (it names "
                              "the mail domain)", *self._pos("myorigin"))
        return first

    def _typed(self, kind: str, name: str, parse: Callable[[str], Any]) -> Any:
        """A parsed value, memoized like get() (the snapshot never changes)."""
        key = f"\0{kind}:{name}"
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = parse(name)
            return value

    def bool(self, name: str) -> bool:
        return self._typed("bool", name, self._bool)

    def int(self, name: str) -> int:
        return self._typed("int", name, self._int)

    def size(self, name: str) -> int:
        return self._typed("size", name, self._size)

    def time(self, name: str) -> float:
        return self._typed("time", name, self._time)

    def list(self, name: str) -> list[str]:
        return list(self._typed("list", name, lambda n: tuple(split_list(self.get(n)))))

    def _bool(self, name: str) -> bool:
        """yes/no, case-insensitive; anything else is an error (config.md §1)."""
        value = self.get(name).strip()
        if value.lower() in ("yes", "no"):
            return value.lower() == "yes"
        raise ConfigError(f"bad boolean configuration: {name} = {value}", *self._pos(name))

    def _int(self, name: str) -> int:
        value = self.get(name).strip()
        if not re.fullmatch(r"-?[0-9]+", value):
            raise ConfigError(f"bad numerical configuration: {name} = {value}", *self._pos(name))
        return int(value)

    def _size(self, name: str) -> int:
        """A byte count: a plain non-negative integer, as Postfix writes sizes."""
        value = self.int(name)
        if value < 0:
            raise ConfigError(f"bad numerical configuration: {name} = {value}", *self._pos(name))
        return value

    def _time(self, name: str) -> float:
        """Seconds. A bare number uses the parameter's default unit (s, or d for lifetimes)."""
        value = self.get(name).strip()
        param = PARAMS.get(name)
        m = re.fullmatch(r"([0-9]+)([smhdw]?)", value)
        if not m:
            raise ConfigError(f"parameter {name}: bad time value or unit: {value}",
                              *self._pos(name))
        unit = m.group(2) or (param.unit if param else "s")
        return int(m.group(1)) * _TIME_UNITS[unit]

    def maps(self, name: str) -> list[str]:
        """A list of `type:name` table references (alias_maps, header_checks, ...)."""
        refs = self.list(name)
        for ref in refs:
            if not re.match(r"[A-Za-z0-9_-]+:.", ref):
                raise ConfigError(f'parameter {name}: expecting "type:name" table reference '
                                  f'instead of "{ref}"', *self._pos(name))
        return refs

    def position(self, name: str) -> tuple[str | None, int | None]:
        """(file, line) where a parameter is set, for ConfigError(message, *position)."""
        return self._pos(name)

    def _pos(self, name: str) -> tuple[str | None, int | None]:
        if name in self.overrides and self.override_source:
            return self.override_source
        entry = self.entries.get(name)
        if entry is None:
            return (self.main_cf if self.config_dir else None, None)
        return (self.main_cf, entry.line)

    # --- derived snapshots ----------------------------------------------------------------
    def with_overrides(self, overrides: Mapping[str, str],
                       source: tuple[str, int] | None = None) -> Config:
        """A snapshot with master.cf `-o` settings; `source` is (master.cf, line) for errors."""
        merged = dict(self.overrides)
        merged.update(overrides)
        return Config(self.config_dir, self.entries, self.warnings, merged, self.computed,
                      source or self.override_source)

    # --- checks ---------------------------------------------------------------------------
    def check_value(self, name: str) -> None:
        """Type-check one parameter (and its choices or minimum); raises ConfigError naming
        file:line."""
        param = PARAMS.get(name)
        kind = param.kind if param is not None else Kind.STR
        check = {Kind.BOOL: self.bool, Kind.INT: self.int, Kind.SIZE: self.size,
                 Kind.TIME: self.time, Kind.MAPS: self.maps}.get(kind, self.get)
        value = check(name)
        if param is None:
            return
        if param.choices:
            words = self.list(name) if kind is Kind.LIST else [value.strip()]
            bad = [w for w in words if w.lower() not in param.choices]
            if bad:
                raise ConfigError(f'unknown {name} value "{bad[0]}" (one of: '
                                  f'{", ".join(c for c in param.choices if c)})', *self._pos(name))
        if param.minimum is not None and value < param.minimum:
            raise ConfigError(f"invalid {name} parameter value {value} < {param.minimum}",
                              *self._pos(name))

    def validate(self) -> list[ConfigError]:
        """Type-check every known parameter (and expand every set one); the problems found."""
        problems: list[ConfigError] = []
        for name in sorted(set(PARAMS) | set(self.entries) | set(self.overrides)):
            try:
                self.check_value(name)
            except ConfigError as e:
                if str(e) not in {str(p) for p in problems}:
                    problems.append(e)
        return problems

    def unused_warnings(self, used_elsewhere: set[str] = frozenset()) -> list[Warning_]:
        """main.cf names affix does not know and nothing it uses refers to (config.md §1),
        and settings of Postfix features affix does not have (config/unsupported.py)."""
        referenced = self._referenced(set(used_elsewhere))
        out: list[Warning_] = []
        for name, entry in self.entries.items():
            missing = missing_feature(name, self.expanded_or_raw(name, entry.value))
            if missing:
                out.append(Warning_(self.main_cf, entry.line, f"Postfix feature affix does "
                                    f"not have: {name}={entry.value} ({missing})"))
                continue
            if name in PARAMS or name in referenced:
                continue
            if name in postfix_parameter_names() or name.endswith(_PER_SERVICE):
                message = f"Postfix parameter not used by affix: {name}={entry.value}"
            else:
                message = f"unused parameter: {name}={entry.value}" + did_you_mean(name)
            out.append(Warning_(self.main_cf, entry.line, message))
        return out


    def expanded_or_raw(self, name: str, raw: str) -> str:
        """A value as it takes effect (`content_filter = $empty` asks for nothing); the raw
        text when it does not expand (validate() reports that)."""
        try:
            return self.get(name)
        except ConfigError:
            return raw

    def _referenced(self, used: set[str]) -> set[str]:
        """The names that the values of used parameters refer to, and theirs in turn: a
        `$smtpd_milters` in non_smtpd_milters, which affix ignores, uses nothing."""
        used |= set(self.list("smtpd_restriction_classes"))
        values = list(self.overrides.values())
        values += [e.value for name, e in self.entries.items() if name in PARAMS or name in used]
        referenced: set[str] = set()
        while values:
            names = set().union(*map(referenced_names, values)) - referenced - used
            referenced |= names
            values = [self.entries[n].value for n in names if n in self.entries]
        return referenced | used

    def undefined_warnings(self, used_elsewhere: set[str] = frozenset()) -> list[Warning_]:
        """$name references to parameters nobody defines: they expand to nothing, so a typo
        such as `mydestination = $myhostnme` quietly turns the server into a relay-denier
        for its own domain. Values expanded later with per-event variables are not checked,
        nor those of parameters affix does not use (unused_warnings names them)."""
        used = self._referenced(set(used_elsewhere))
        out: list[Warning_] = []
        for name, entry in self.entries.items():
            param = PARAMS.get(name)
            if (param is not None and param.raw) or (param is None and name not in used):
                continue
            out += [Warning_(self.main_cf, entry.line, message)
                    for message in self.undefined_in(name, entry.value)]
        return out

    def undefined_in(self, label: str, value: str) -> list[str]:
        """What undefined_warnings says of `value` (a master.cf -o value too), under `label`."""
        out = []
        for ref in sorted(referenced_names(value, plain_only=True)):
            if is_digits(ref) or ref in PARAMS or ref in self.entries:
                continue
            if ref in postfix_parameter_names():
                out.append(f"{label} refers to ${ref}, a Postfix parameter affix does not "
                           "know: it expands to an empty value")
            else:
                out.append(f"{label} refers to ${ref}, which is not defined: it expands to "
                           "an empty value" + did_you_mean(ref))
        return out


# Postfix's parameters of one master.cf service or transport: `policyd-spf_time_limit`,
# `dovecot_destination_recipient_limit` (affix runs neither)
_PER_SERVICE = ("_time_limit", "_destination_concurrency_limit",
                "_destination_recipient_limit", "_destination_rate_delay",
                "_initial_destination_concurrency", "_extra_recipient_limit", "_recipient_limit")

# $name, ${name} / $(name), ${name?...} / ${name:...} (group 3: the condition); $$ is a "$"
_REFERENCE = re.compile(r"\$(?:\$|([A-Za-z0-9_]+)|[({]\s*([A-Za-z0-9_]+)\s*([?:])?)")


def referenced_names(value: str, plain_only: bool = False) -> set[str]:
    """Names a value refers to as $name, ${name...} or $(name...); `plain_only`: not those
    in ${name?value} or ${name:value}, which mean something when `name` is empty too."""
    return {m.group(1) or m.group(2) for m in _REFERENCE.finditer(value)
            if (m.group(1) or m.group(2)) and not (plain_only and m.group(3))}


def did_you_mean(name: str) -> str:
    """`; did you mean NAME?` for the closest known parameter, or ''."""
    import difflib  # only for the warning about an unknown name

    close = difflib.get_close_matches(name, list(PARAMS), n=1, cutoff=0.75)
    if not close:
        close = difflib.get_close_matches(name, sorted(postfix_parameter_names()), n=1,
                                          cutoff=0.8)
    return f" (did you mean {close[0]}?)" if close else ""


def read_text(path: str | os.PathLike[str]) -> str:
    """A config file's text; a missing or unreadable file is a ConfigError naming it."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except FileNotFoundError as e:
        raise ConfigError("No such file or directory", str(path)) from e
    except OSError as e:
        raise ConfigError(e.strerror or str(e), str(path)) from e


def load_config(config_dir: str | None) -> Config:
    """Read DIR/main.cf; None means the embedded default (see affix.config.embedded)."""
    if config_dir is None:
        from affix.config.embedded import embedded_maincf

        text, where = embedded_maincf(), "(built-in main.cf)"
    else:
        path = os.path.join(config_dir, "main.cf")
        text, where = read_text(path), path
    return config_from_text(config_dir, text, where)


def config_from_text(config_dir: str | None, text: str, where: str) -> Config:
    """A Config from main.cf text already read (affix lint parses a repaired copy)."""
    entries, warnings = parse_maincf(text, where)
    # like `postconf -c DIR`, config_directory names the directory actually read
    computed = {"config_directory": config_dir} if config_dir else {}
    return Config(config_dir, entries, tuple(warnings), {}, computed)
