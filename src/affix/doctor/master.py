"""master.cf as lint sees it: the foundation's parser (affix.config.mastercf), made to go on
past a broken line (reported, then left out, as `affix check` would refuse it), plus the
physical line of each `-o name=value`, so a finding can name master.cf:LINE of the override.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from affix.config.errors import ConfigError
from affix.config.maincf import Warning_, logical_lines, physical_lines
from affix.config.mastercf import DEFAULT_MASTERCF, MasterService, parse_mastercf
from affix.config.snapshot import read_text
from affix.doctor.findings import Where


@dataclass(frozen=True)
class MasterFile:
    path: str
    services: tuple[MasterService, ...]  # the inet smtpd services affix runs
    notes: tuple[Warning_, ...]  # lines skipped (not run by affix), postscreen, ...
    problems: tuple[ConfigError, ...]  # lines that stop `affix start` / `affix check`
    override_lines: dict[tuple[str, str], int]  # (service, -o name) -> physical line


def read_master(config_dir: str | None) -> MasterFile:
    """DIR/master.cf (the built-in default when DIR has none, the embedded one without DIR)."""
    if config_dir is None:
        from affix.config.embedded import embedded_mastercf

        path, text = "(built-in master.cf)", embedded_mastercf()
    else:
        file = os.path.join(config_dir, "master.cf")
        if os.path.exists(file):
            path, text = file, read_text(file)
        else:
            path, text = f"{file} (missing; default)", DEFAULT_MASTERCF
    services, notes, problems = _parse(text, path)
    return MasterFile(path, tuple(services), tuple(notes), tuple(problems),
                      _override_lines(text, services))


def _parse(text: str, path: str,
           ) -> tuple[list[MasterService], list[Warning_], list[ConfigError]]:
    """parse_mastercf, again without each line it refuses, until the rest parses."""
    problems: list[ConfigError] = []
    for _ in range(text.count("\n") + 2):
        try:
            services, notes = parse_mastercf(text, path)
            return services, notes, problems
        except ConfigError as e:
            if not e.line or e.line in {p.line for p in problems}:
                problems.append(e)
                return [], [], problems
            problems.append(e)
            text = _blank_logical_line(text, e.line)
    return [], [], problems


def _blank_logical_line(text: str, line: int) -> str:
    lines = physical_lines(text)
    for ll in logical_lines(text):
        if ll.line == line:
            for n in range(ll.line - 1, ll.end_line):
                lines[n] = ""
            break
    return "\n".join(lines) + "\n"


def _override_lines(text: str, services: list[MasterService]) -> dict[tuple[str, str], int]:
    """Where each `-o name=...` (or `-o { name = ... }`) of a service is written."""
    lines = physical_lines(text)
    ends = {ll.line: ll.end_line for ll in logical_lines(text)}
    out: dict[tuple[str, str], int] = {}
    for svc in services:
        for name in svc.overrides:
            pattern = re.compile(r"-o\s*(?:\{\s*)?" + re.escape(name) + r"\s*=")
            for number in range(svc.line, ends.get(svc.line, svc.line) + 1):
                if pattern.search(lines[number - 1]):
                    out[(svc.name, name)] = number  # the last one wins, as in the parser
    return out


def override_where(master: MasterFile, svc: MasterService) -> dict[str, Where]:
    return {name: Where(master.path, master.override_lines.get((svc.name, name), svc.line))
            for name in svc.overrides}
