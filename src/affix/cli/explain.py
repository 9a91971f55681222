"""`affix [-c DIR] explain [-c DIR] --client ADDR [--name NAME] --helo HELO --sender S
--recipient R [--size N] [--service NAME] [--format text|json]`: show how the server
would decide this transaction: every restriction list, each restriction in order, the table
keys and DNS queries it consulted, the verdict, the SMTP reply and the mail log line. No mail
is sent.

Without --name the client name is looked up in DNS (PTR, then forward confirmation) as smtpd
does; --name unknown (or [UNAVAILABLE]) means no name, [TEMPUNAVAIL] a temporary lookup
failure. --service picks a master.cf smtpd service (its -o overrides apply); without it, the
smtp service on port 25. S and R may be written as in the SMTP command (`<a@example.org>`,
`<>`). A configuration `affix check` refuses is still explained, after a warning that says
why the server would not start. Exit status: 0 = accepted, 1 = rejected or deferred, 3 = could
not run.
"""

from __future__ import annotations

import asyncio
import getopt
import json
import os
import sys

from affix.ascii import is_digits
from affix.config.errors import ConfigError

USAGE = ("usage: affix [-c DIR] explain --client ADDR [--name NAME] --helo HELO --sender S "
         "--recipient R [--size N] [--service NAME] [--format text|json]")
CANNOT_RUN = 3
_LONG = ["client=", "name=", "helo=", "sender=", "recipient=", "size=", "service=", "format=",
         "help"]


def _address(value: str) -> str:
    """`<a@example.org>` as the SMTP command writes it, or `a@example.org`; `<>` is null."""
    value = value.strip()
    return value[1:-1] if value.startswith("<") and value.endswith(">") else value


def run(ctx, args: list[str]) -> int:  # noqa: ANN001 - Context from affix.cli.main
    try:
        opts, rest = getopt.gnu_getopt(args, "c:", _LONG)
    except getopt.GetoptError as e:
        sys.stderr.write(f"affix explain: {e}\n{USAGE}\n")
        return CANNOT_RUN
    flags = dict(opts)
    if "--help" in flags:
        sys.stdout.write(USAGE + "\n")
        return 0
    missing = [o for o in ("--client", "--helo", "--sender", "--recipient") if o not in flags]
    fmt = flags.get("--format", "text")
    size = flags.get("--size")
    if rest or missing or fmt not in ("text", "json") or (size and not is_digits(size)):
        why = f"missing {', '.join(missing)}" if missing else "bad arguments"
        sys.stderr.write(f"affix explain: {why}\n{USAGE}\n")
        return CANNOT_RUN
    from affix.dns.names import valid_hostaddr

    if not valid_hostaddr(flags["--client"]):  # a client is an address (smtpd knows no other)
        sys.stderr.write(f"affix explain: --client {flags['--client']}: not an IPv4 or IPv6 "
                         f"address\n{USAGE}\n")
        return CANNOT_RUN
    from affix.check import check_config
    from affix.doctor.explain import Request, explain, format_text

    req = Request(flags["--client"], flags["--helo"], _address(flags["--sender"]),
                  _address(flags["--recipient"]), flags.get("--name"),
                  int(size) if size else None, flags.get("--service"))
    config_dir = os.path.abspath(flags["-c"]) if "-c" in flags else ctx.config_dir
    try:
        check_config(config_dir)
    except ConfigError as e:  # still explained: the trace shows what the problem does
        sys.stderr.write("affix explain: warning: affix would not start with this "
                         f"configuration (affix check):\n{e}\n")
    try:
        result = asyncio.run(explain(config_dir, req))
    except ConfigError as e:
        sys.stderr.write(f"affix explain: fatal: {e}\n")
        return CANNOT_RUN
    if fmt == "json":
        json.dump(result.as_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_text(result))
    return 1 if result.rejected else 0
