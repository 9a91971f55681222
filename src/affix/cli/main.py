"""The `affix` command: `affix [-c DIR] VERB [ARGS]`; each verb lives in its own module."""

from __future__ import annotations

import importlib
import os
import sys

from affix.config.errors import ConfigError

# verb -> (module in affix.cli that provides `run(ctx, args) -> int`, its arguments, its job)
VERBS: dict[str, tuple[str, str, str]] = {
    "start": ("lifecycle", "", "start the server in the background"),
    "start-fg": ("lifecycle", "", "run the server in the foreground, logging to stderr"),
    "stop": ("lifecycle", "", "stop the server, letting open sessions finish"),
    "reload": ("lifecycle", "", "re-read main.cf and master.cf (kept if they are bad)"),
    "status": ("lifecycle", "", "exit 0 while the server runs"),
    "check": ("lifecycle", "", "check main.cf, master.cf and their tables"),
    "conf": ("conf", "[-d|-n|-x|-M|-e|-X|-#] [NAME[=VALUE]...]",
             "show or edit main.cf (postconf)"),
    "map": ("map", "[-fiNnprsw] [-q KEY | -d KEY] [TYPE:]FILE...",
            "build or query a lookup table (postmap)"),
    "lint": ("lint", "[--format text|json] [--dns] [--list]",
             "find mistakes and outdated advice in the configuration"),
    "explain": ("explain", "--client ADDR --helo HELO --sender S --recipient R [...]",
                "show how the restrictions judge one SMTP transaction"),
    "queue": ("queue", "[list | show ID | delete|hold|release|requeue|expire ID...|ALL]",
              "list, show and act on queued mail (mailq, postsuper)"),
    "flush": ("queue", "", "retry the deferred mail now (postqueue -f)"),
    "newaliases": ("aliases", "", "build the alias databases (newaliases)"),
    "sendmail": ("sendmail", "[options] [RECIPIENT...]",
                 "queue a message read from stdin (sendmail)"),
}

USAGE = ("usage: affix [-c DIR] VERB [ARGS]      (affix VERB --help for a verb's own)\n"
         + "".join(f"  {verb:<11} {job}\n" for verb, (_, _, job) in VERBS.items()))


def verb_usage(verb: str) -> str:
    _, arguments, job = VERBS[verb]
    return f"usage: affix [-c DIR] {verb}{' ' + arguments if arguments else ''}\n  {job}\n"


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
    """For a verb that takes no arguments: its exit status when it was given some, None when
    it may go on. (main() answers -h and --help before any verb runs: a verb that acts must
    never take them for a go-ahead.)"""
    if not args:
        return None
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
        elif opt in ("-V", "--version"):
            from affix import __version__

            sys.stdout.write(f"affix {__version__}\n")
            return 0
        else:
            sys.stderr.write(f"affix: unknown option {opt}\n{USAGE}")
            return 2
    if not args or args[0] not in VERBS:
        sys.stderr.write(USAGE if not args else f"affix: unknown verb {args[0]!r}\n{USAGE}")
        return 2
    verb = args.pop(0)
    if args == ["--help"] or (args == ["-h"] and verb != "sendmail"):  # sendmail's -h is its own
        sys.stdout.write(verb_usage(verb))
        return 0
    ctx = Context(pick_config_dir(config_dir), verb)
    try:
        module = importlib.import_module(f"affix.cli.{VERBS[verb][0]}")
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
