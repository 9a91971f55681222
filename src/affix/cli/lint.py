"""`affix [-c DIR] lint [-c DIR] [--format text|json] [--dns] [--list]`: find configuration
mistakes in main.cf and every table it references.

Each finding is one line `FILE:LINE: SEVERITY: [ID] MESSAGE (WHY; FIX)`.
Exit status: 0 = nothing above info, 1 = warnings (the worst finding is a warning),
2 = errors, 3 = lint could not run (bad usage, unreadable main.cf).
--dns also queries each DNSBL zone's RFC 5782 test points (127.0.0.2 listed, 127.0.0.1 not).
--list prints the catalog of check IDs.
"""

from __future__ import annotations

import getopt
import json
import os
import sys

from affix.config.errors import ConfigError

USAGE = "usage: affix [-c DIR] lint [--format text|json] [--dns] [--list]"
CANNOT_RUN = 3


def run(ctx, args: list[str]) -> int:  # noqa: ANN001 - Context from affix.cli.main
    try:
        opts, rest = getopt.gnu_getopt(args, "c:", ["format=", "dns", "list", "help"])
    except getopt.GetoptError as e:
        sys.stderr.write(f"affix lint: {e}\n{USAGE}\n")
        return CANNOT_RUN
    flags = dict(opts)
    fmt = flags.get("--format", "text")
    if rest or fmt not in ("text", "json") or "--help" in flags:
        sys.stderr.write(USAGE + "\n")
        return 0 if "--help" in flags else CANNOT_RUN
    if "--list" in flags:
        return _catalog()
    config_dir = os.path.abspath(flags["-c"]) if "-c" in flags else ctx.config_dir
    from affix.doctor.findings import exit_status
    from affix.doctor.lint import lint_findings

    try:
        findings = lint_findings(config_dir, dns="--dns" in flags)
    except OSError as e:  # the way check and start say it: FILE: reason
        sys.stderr.write(f"affix lint: {e.filename or config_dir}: {e.strerror or e}\n")
        return CANNOT_RUN
    except ConfigError as e:
        sys.stderr.write(f"affix lint: {e}\n")
        return CANNOT_RUN
    status = exit_status(findings)
    if fmt == "json":
        json.dump({"findings": [f.as_dict() for f in findings], "summary": _summary(findings),
                   "exit": status}, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        for f in findings:
            sys.stdout.write(f"{f}\n")
        counts = _summary(findings)
        sys.stdout.write(f"{counts['error']} errors, {counts['warning']} warnings, "
                         f"{counts['info']} info\n")
    return status


def _summary(findings: list) -> dict[str, int]:
    counts = {"error": 0, "warning": 0, "info": 0}
    for f in findings:
        counts[f.severity.label] += 1
    return counts


def _catalog() -> int:
    import affix.doctor.lint  # noqa: F401 - registers every check
    from affix.doctor.registry import SEVERITY, TITLE

    for check_id in sorted(SEVERITY):
        sys.stdout.write(f"{check_id}\t{SEVERITY[check_id].label}\t{TITLE[check_id]}\n")
    return 0
