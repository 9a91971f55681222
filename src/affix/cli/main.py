"""The `affix` command: `affix [-c DIR] VERB [ARGS]`; each verb lives in its own module."""

from __future__ import annotations

import importlib
import os
import sys

from affix.config.errors import ConfigError

# verb -> module in affix.cli that provides `run(ctx, args) -> int`
VERBS: dict[str, str] = {
    "start": "lifecycle",
    "start-fg": "lifecycle",
    "stop": "lifecycle",
    "reload": "lifecycle",
    "status": "lifecycle",
    "check": "lifecycle",
    "conf": "conf",
    "map": "map",
    "lint": "lint",
    "explain": "explain",
    "queue": "queue",
    "flush": "queue",
    "newaliases": "aliases",
    "sendmail": "sendmail",
}

USAGE = ("usage: affix [-c DIR] VERB [ARGS]\n"
         "verbs: " + ", ".join(VERBS) + "\n")

DEFAULT_CONFIG_DIR = "/etc/affix"


class Context:
    """What every verb receives: the config directory (None = embedded default) and the verb.
    A plain class, not a dataclass: every command starts here, and dataclasses (with inspect)
    would add milliseconds to `affix map -q`."""

    __slots__ = ("config_dir", "verb")

    def __init__(self, config_dir: str | None, verb: str) -> None:
        self.config_dir = config_dir
        self.verb = verb


def refuse_arguments(args: list[str], usage: str) -> int | None:
    """For a verb that takes no arguments: its exit status when it was given some (-h and
    --help print the usage), None when it may go on. A verb that acts must never take
    `--help` for a go-ahead."""
    if not args:
        return None
    if args in (["-h"], ["--help"]):
        sys.stdout.write(usage)
        return 0
    sys.stderr.write(usage)
    return 2


def pick_config_dir(explicit: str | None) -> str | None:
    """-c DIR, else $AFFIX_CONFIG_DIR, else /etc/affix if it has a main.cf, else embedded."""
    if explicit:
        return os.path.abspath(explicit)
    env = os.environ.get("AFFIX_CONFIG_DIR")
    if env:
        return os.path.abspath(env)
    if os.path.exists(os.path.join(DEFAULT_CONFIG_DIR, "main.cf")):
        return DEFAULT_CONFIG_DIR
    return None


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    config_dir = None
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt == "-c" and args:
            config_dir = args.pop(0)
        elif opt.startswith("-c") and len(opt) > 2:
            config_dir = opt[2:]
        elif opt in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        else:
            sys.stderr.write(f"affix: unknown option {opt}\n{USAGE}")
            return 2
    if not args or args[0] not in VERBS:
        sys.stderr.write(USAGE if not args else f"affix: unknown verb {args[0]!r}\n{USAGE}")
        return 2
    verb = args.pop(0)
    ctx = Context(pick_config_dir(config_dir), verb)
    try:
        module = importlib.import_module(f"affix.cli.{VERBS[verb]}")
    except ModuleNotFoundError:
        sys.stderr.write(f"affix: {verb}: not implemented yet\n")
        return 2
    try:
        return int(module.run(ctx, args) or 0)
    except ConfigError as e:
        sys.stderr.write(f"affix: fatal: {e}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `affix conf | head`: the reader left; exit quietly like other Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except PermissionError as e:  # e.g. the queue, which is root's, read by another user
        where = f" {e.filename}" if e.filename else ""
        sys.stderr.write(f"affix: fatal: {verb}: cannot access{where}: {e.strerror} (run "
                         f"as the user that owns it, e.g. root)\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
