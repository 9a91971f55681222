"""The Config snapshot: main.cf values over the registry defaults, typed and expanded.

A Config never changes after it is built; reload builds a new one. A master.cf service gets
its own snapshot through `with_overrides` (its `-o name=value` settings).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from affix.config.errors import ConfigError
from affix.config.maincf import Entry, Warning_, expand, parse_maincf
from affix.config.params import PARAMS, Kind

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
    """gethostname(), made fully qualified the way Postfix does (no DNS lookup)."""
    name = socket.gethostname() or "localhost"
    return name if "." in name else name + ".localdomain"


@dataclass(frozen=True)
class Config:
    """An immutable snapshot of main.cf (plus per-service overrides)."""

    config_dir: str | None
    entries: Mapping[str, Entry]
    warnings: tuple[Warning_, ...] = ()
    overrides: Mapping[str, str] = field(default_factory=dict)
    computed: Mapping[str, str] = field(default_factory=dict)

    # --- raw values -----------------------------------------------------------------------
    def raw(self, name: str) -> str | None:
        """The unexpanded value: override, main.cf, computed default, registry default."""
        if name in self.overrides:
            return self.overrides[name]
        entry = self.entries.get(name)
        if entry is not None:
            return entry.value
        if name in self.computed:
            return self.computed[name]
        param = PARAMS.get(name)
        return param.default if param else None

    def is_set(self, name: str) -> bool:
        return name in self.overrides or name in self.entries

    def where(self, name: str) -> str:
        """`file:line` of a parameter's definition, for error messages."""
        entry = self.entries.get(name)
        main_cf = os.path.join(self.config_dir or "(built-in)", "main.cf")
        if name in self.overrides:
            return f"{os.path.join(self.config_dir or '', 'master.cf')}: -o {name}"
        return f"{main_cf}:{entry.line}" if entry else f"{main_cf}: (default)"

    # --- typed access ---------------------------------------------------------------------
    def get(self, name: str) -> str:
        """The expanded value ('' when unknown)."""
        raw = self.raw(name)
        return "" if raw is None else expand(raw, self.raw, _stack=(name,))

    def bool(self, name: str) -> bool:
        value = self.get(name).strip().lower()
        if value in ("yes", "true", "1"):
            return True
        if value in ("no", "false", "0"):
            return False
        raise ConfigError(f"bad boolean configuration: {name} = {value}", *self._pos(name))

    def int(self, name: str) -> int:
        value = self.get(name).strip()
        if not re.fullmatch(r"-?\d+", value):
            raise ConfigError(f"bad numerical configuration: {name} = {value}", *self._pos(name))
        return int(value)

    size = int

    def time(self, name: str) -> float:
        """Seconds. A bare number uses the parameter's default unit."""
        value = self.get(name).strip()
        param = PARAMS.get(name)
        m = re.fullmatch(r"(\d+)([smhdw]?)", value)
        if not m:
            raise ConfigError(f"parameter {name}: bad time value or unit: {value}",
                              *self._pos(name))
        unit = m.group(2) or (param.unit if param else "s")
        return int(m.group(1)) * _TIME_UNITS[unit]

    def list(self, name: str) -> list[str]:
        return split_list(self.get(name))

    def _pos(self, name: str) -> tuple[str | None, int | None]:
        entry = self.entries.get(name)
        path = os.path.join(self.config_dir, "main.cf") if self.config_dir else None
        return (path, entry.line if entry else None)

    # --- derived snapshots ----------------------------------------------------------------
    def with_overrides(self, overrides: Mapping[str, str]) -> Config:
        merged = dict(self.overrides)
        merged.update(overrides)
        return Config(self.config_dir, self.entries, self.warnings, merged, self.computed)

    def validate(self) -> list[ConfigError]:
        """Type-check every known parameter; returns the problems found."""
        problems: list[ConfigError] = []
        for name, param in PARAMS.items():
            try:
                if param.kind is Kind.BOOL:
                    self.bool(name)
                elif param.kind in (Kind.INT, Kind.SIZE):
                    self.int(name)
                elif param.kind is Kind.TIME:
                    self.time(name)
                else:
                    self.get(name)
            except ConfigError as e:
                problems.append(e)
        return problems


def _computed_defaults(entries: Mapping[str, Entry]) -> dict[str, str]:
    """Host-dependent defaults (config.md §4): myhostname, mydomain."""
    host = system_hostname()
    out = {"myhostname": host}
    out["mydomain"] = host.split(".", 1)[1] if "." in host else "localdomain"
    return out


def load_config(config_dir: str | None) -> Config:
    """Read DIR/main.cf; None means the embedded default (see affix.config.embedded)."""
    if config_dir is None:
        from affix.config.embedded import embedded_maincf

        text, where = embedded_maincf(), None
    else:
        path = Path(config_dir) / "main.cf"
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError as e:
            raise ConfigError("No such file or directory", str(path)) from e
        except OSError as e:
            raise ConfigError(e.strerror or str(e), str(path)) from e
        where = str(path)
    entries, warnings = parse_maincf(text, where or "(built-in main.cf)")
    return Config(config_dir, entries, tuple(warnings), {}, _computed_defaults(entries))


def config_from_text(config_dir: str | None, text: str, where: str) -> Config:
    """A Config from main.cf text already read (affix lint parses a repaired copy)."""
    entries, warnings = parse_maincf(text, where)
    return Config(config_dir, entries, tuple(warnings), {}, _computed_defaults(entries))
