"""`affix conf`: show and edit main.cf, as `postconf` does (config.md §7).

    affix conf [-n|-d] [-h|-H] [-x] [-f] [NAME ...]    show parameters (sorted, `name = value`)
    affix conf [-e] NAME=VALUE ...                     set (in place; -e implied by `=`)
    affix conf -X NAME ... | -# NAME ...               remove / comment out
    affix conf -M [-f] [SERVICE ...]                   the master.cf services affix runs
    affix conf --doc                                   docs/parameters.md from the registry
"""

from __future__ import annotations

import functools
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from affix.config.doc import parameters_markdown
from affix.config.edit import edit_file, parse_assignment
from affix.config.errors import ConfigError
from affix.config.mastercf import MasterService, load_master
from affix.config.params import PARAMS
from affix.config.snapshot import Config, config_from_text, load_config

FLAGS = set("ndhHxfeXM#v")  # v: postconf's verbose logging, which changes nothing printed


@dataclass
class Options:
    flags: set[str] = field(default_factory=set)
    names: list[str] = field(default_factory=list)


def parse_args(args: list[str]) -> Options:
    opts = Options()
    for arg in args:
        if arg.startswith("-") and len(arg) > 1 and "=" not in arg:
            bad = set(arg[1:]) - FLAGS
            if bad:
                raise ConfigError(f"affix conf: unknown option -{''.join(sorted(bad))}")
            opts.flags |= set(arg[1:])
        else:
            opts.names.append(arg)
    return opts


def run(ctx, args: list[str]) -> int:
    if args == ["--doc"]:
        sys.stdout.write(parameters_markdown())
        return 0
    opts = parse_args(args)
    if "M" in opts.flags:
        return show_services(ctx.config_dir, opts)
    if opts.flags & {"e", "X", "#"} or any("=" in n for n in opts.names):
        return edit(ctx.config_dir, opts)
    cfg = load_config(ctx.config_dir)
    for warning in cfg.warnings:  # as postconf does: what main.cf's reader had to work around
        sys.stderr.write(f"affix: {warning}\n")
    return show(cfg, opts)


# --- showing ------------------------------------------------------------------------------

def display(value: str) -> str:
    """postconf shows runs of white space as one space (display only)."""
    return re.sub(r"\s+", " ", value).strip()


def fold(line: str) -> str:
    """-f: break long lines at white space, continuation lines indented by 4 spaces."""
    return "\n".join(textwrap.wrap(line, width=79, subsequent_indent="    ",
                                   break_long_words=False, break_on_hyphens=False)) or line


@functools.cache
def _defaults() -> Config:
    """A snapshot of the defaults alone (no main.cf), built once per command."""
    return config_from_text(None, "", "(defaults)")


def value_for(cfg: Config, name: str, flags: set[str]) -> str:
    if "d" in flags:
        if name == "config_directory":  # the registry's own, not the directory this run read
            return PARAMS[name].default
        if "x" in flags:  # expanded among defaults only, as `postconf -dx` does
            return _defaults().get(name)
        return cfg.default(name) or ""
    return cfg.get(name) if "x" in flags else (cfg.raw(name) or "")


def selected_names(cfg: Config, opts: Options) -> list[str]:
    if opts.names and "n" in opts.flags:  # postconf -n NAME: only when main.cf sets it
        return [name for name in opts.names if name in cfg.entries]
    if opts.names:
        known = []
        for name in opts.names:
            if name in PARAMS or (name in cfg.entries and "d" not in opts.flags):
                known.append(name)
            else:
                sys.stderr.write(f"affix: warning: {name}: unknown parameter\n")
        return known
    if "n" in opts.flags:
        names = set(cfg.entries)
        if cfg.config_dir:
            names.add("config_directory")
        return sorted(names)
    if "d" in opts.flags:
        return sorted(PARAMS)
    return sorted(set(PARAMS) | set(cfg.entries))


def show(cfg: Config, opts: Options) -> int:
    out = []
    for name in selected_names(cfg, opts):
        value = display(value_for(cfg, name, opts.flags))
        if "h" in opts.flags:
            line = value
        elif "H" in opts.flags:
            line = name
        else:
            line = f"{name} = {value}" if value else f"{name} ="
        out.append(fold(line) if "f" in opts.flags else line)
    sys.stdout.write("".join(line + "\n" for line in out))
    return 0


def service_line(svc: MasterService) -> str:
    parts = [svc.name, "inet", *svc.fields, svc.command, *svc.args]
    for name, value in svc.overrides.items():
        parts += ["-o", f"{{ {name} = {value} }}" if re.search(r"\s", value)
                  else f"{name}={value}"]
    return " ".join(parts)


def show_services(config_dir: str | None, opts: Options) -> int:
    services, warnings = load_master(config_dir)
    for warning in warnings:
        sys.stderr.write(f"affix: {warning}\n")
    for svc in services:
        if opts.names and svc.name not in opts.names and \
                f"{svc.name}/inet" not in opts.names:
            continue
        line = service_line(svc)
        sys.stdout.write((fold(line) if "f" in opts.flags else line) + "\n")
    return 0


# --- editing ------------------------------------------------------------------------------

def edit(config_dir: str | None, opts: Options) -> int:
    if config_dir is None:
        raise ConfigError("affix conf: no configuration directory to edit "
                          "(the built-in configuration is in use); give -c DIR")
    path = Path(config_dir) / "main.cf"
    if "X" in opts.flags or "#" in opts.flags:
        names = [n.strip() for n in opts.names]
        if "X" in opts.flags:
            edit_file(path, remove=names)
        else:
            edit_file(path, comment_out=names)
        return 0
    assign = dict(parse_assignment(arg) for arg in opts.names)
    edit_file(path, assign=assign)
    return 0
