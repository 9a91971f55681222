"""`affix sendmail`: the sendmail(1) interface for local programs, as Postfix's sendmail.

  affix sendmail [-f SENDER] [-t] [-i | -oi] [-N NOTIFY] [-B 7BIT|8BITMIME] [RECIPIENT...]
  affix sendmail -bi      same as `affix newaliases` (also -I)
  affix sendmail -bp      same as `affix queue` (mailq)
  affix sendmail -q       same as `affix flush`

The message is read from standard input: leading `From ` lines are skipped, CRs before line
ends are removed, and a line with only `.` ends the input unless -i/-oi is given. Recipients
are command-line address lists, plus (-t) the To/Cc/Bcc headers (the Resent- ones when
present). The message goes through cleanup as a local submission (pickup's Received header,
content checks, missing headers); a running server is then told to look at the queue. A
message cleanup rejects with a 5xx bounces to the sender, as Postfix's pickup does; a 4xx
exits with EX_TEMPFAIL so that the calling program tries again. A user who may not write the
queue leaves the message in maildrop/ for the server's pickup instead (pickup.py), which
gives cleanup's verdict later. Other sendmail options are accepted and ignored, as Postfix
does.
"""

from __future__ import annotations

import email.utils
import getopt
import os
import pwd
import sys
import time
from dataclasses import dataclass, field

from affix import log, pickup
from affix.ascii import is_digits
from affix.cleanup import headers as hdr
from affix.cleanup.service import Cleanup, SubmitError
from affix.cli.main import Context
from affix.config.snapshot import Config, load_config
from affix.queue import maildrop
from affix.queue.envelope import Envelope, Recipient
from affix.queue.store import QueueStore

# Postfix sendmail's option letters (options with `:` take an argument)
_GETOPT = "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx"
_NOTIFY = ("never", "success", "delay", "failure")  # RFC 3461 4.1


class Usage(Exception):
    """A fatal error before anything is queued; .status is the sysexits code."""

    def __init__(self, text: str, status: int = os.EX_USAGE):
        super().__init__(text)
        self.status = status


@dataclass
class Options:
    mode: str = "enqueue"  # enqueue, newaliases, mailq, flush, ignore
    sender: str | None = None
    extract: bool = False  # -t
    dot_ends_input: bool = True  # cleared by -i / -oi
    notify: str = ""  # -N, as NOTIFY= would give it
    body_type: str = ""  # -B
    ret: str = ""  # -R, as RET= would give it
    envid: str = ""  # -V, as ENVID= would give it
    fullname: str = ""  # -F, else $NAME: the name in an added From: header
    config_dir: str | None = None  # -C
    recipients: list[str] = field(default_factory=list)


def run(ctx, args: list[str]) -> int:
    try:
        opts = parse_args(args)
        ctx = Context(opts.config_dir or ctx.config_dir, ctx.verb)
        return _dispatch(ctx, opts)
    except Usage as e:
        sys.stderr.write(f"affix sendmail: fatal: {e}\n")
        return e.status


def _dispatch(ctx, opts: Options) -> int:
    if opts.mode != "enqueue" and opts.recipients:
        raise Usage(f"{opts.mode} mode requires no recipient")
    if opts.mode == "newaliases":
        from affix.cli import aliases

        return aliases.run(Context(ctx.config_dir, "newaliases"), [])
    if opts.mode in ("mailq", "flush"):
        from affix.cli import queue

        verb = "queue" if opts.mode == "mailq" else "flush"
        return queue.run(Context(ctx.config_dir, verb), [])
    if opts.mode == "ignore":
        return 0
    # a closed standard input (`sendmail root <&-`) is an empty message, as Postfix reopens
    # /dev/null for it
    stdin = sys.stdin.buffer.read() if sys.stdin is not None else b""
    return enqueue(load_config(ctx.config_dir), opts, stdin)


# --- options ----------------------------------------------------------------------------------

def parse_args(args: list[str]) -> Options:
    opts = Options()
    if "-q" in args:  # a bare -q is not getopt syntax (its argument is optional)
        opts.mode = "flush"
        args = [a for a in args if a != "-q"]
    try:
        pairs, rest = getopt.getopt(args, _GETOPT)
    except getopt.GetoptError as e:
        raise Usage(f"{e}; usage: affix sendmail [options] [recipient ...]") from e
    for flag, value in pairs:
        _option(opts, flag[1], value)
    if opts.extract and opts.mode != "enqueue":
        raise Usage("-t can be used only in delivery mode")
    opts.recipients = rest
    return opts


_B_MODES = {"i": "newaliases", "p": "mailq", "m": "enqueue", "h": "ignore", "H": "ignore"}


def _option(opts: Options, letter: str, value: str) -> None:
    if letter in "fr":
        opts.sender = value
    elif letter == "t":
        opts.extract = True
    elif letter == "i" or (letter == "o" and value.startswith("i")):
        opts.dot_ends_input = False
    elif letter == "I":
        opts.mode = "newaliases"
    elif letter == "b":
        if value[:1] not in _B_MODES:
            raise Usage(f"-b{value[:1]} is not supported by affix sendmail")
        opts.mode = _B_MODES[value[:1]]
    elif letter == "q":
        # -q30m (a queue run interval) does nothing, as in Postfix; -qR site / -qI id:
        # affix flushes the whole queue
        opts.mode = "ignore" if is_digits(value[:1]) else "flush"
    elif letter == "N":
        opts.notify = _notify(value)
    elif letter == "F":
        opts.fullname = value
    elif letter == "R":
        if value.upper() not in ("FULL", "HDRS"):
            raise Usage("-R option needs full or hdrs")
        opts.ret = value.upper()
    elif letter == "V":
        if not value or not all(32 <= ord(c) <= 126 for c in value):
            raise Usage("-V option needs printable text")
        opts.envid = value
    elif letter == "B":
        if value not in ("7BIT", "8BITMIME"):
            raise Usage("-B option needs 8BITMIME or 7BIT")
        opts.body_type = value
    elif letter == "C":
        opts.config_dir = os.path.dirname(value) if value.endswith("/main.cf") else value
    elif letter in "nX":
        raise Usage(f"-{letter} option not supported")


def _notify(value: str) -> str:
    words = [w.strip().lower() for w in value.split(",") if w.strip()]
    if not words or any(w not in _NOTIFY for w in words) or ("never" in words and
                                                             len(words) > 1):
        log.warning("sendmail", "bad -N option value -- ignored")
        return ""
    return ",".join(w.upper() for w in words)


# --- the message ------------------------------------------------------------------------------

def read_message(data: bytes, dot_ends_input: bool) -> bytes:
    """Leading `From ` (and `>From `) lines dropped, CRs before LF removed
    (sendmail_fix_line_endings=always), and the input cut at a `.` line (without -i)."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
        complete = True
    else:
        complete = False
    while lines and lines[0].lstrip(b">").startswith(b"From "):
        del lines[0]
    out: list[bytes] = []
    for line in lines:
        line = line.rstrip(b"\r")
        if dot_ends_input and line == b".":
            complete = True
            break
        out.append(line)
    return b"\n".join(out) + (b"\n" if out and complete else b"")


def _addresses(text: str) -> list[str]:
    """An RFC 5322 address list (`a@x, Name <b@y>`), as sendmail reads each argument."""
    return [addr for _, addr in email.utils.getaddresses([text]) if addr]


def header_recipients(content: bytes) -> list[str]:
    """-t: To, Cc and Bcc, or Resent-To/-Cc/-Bcc when the message has any of those."""
    msg = hdr.split(content)
    resent = [h for h in msg.headers if hdr.name_of(h) in ("resent-to", "resent-cc",
                                                            "resent-bcc")]
    chosen = resent or [h for h in msg.headers if hdr.name_of(h) in ("to", "cc", "bcc")]
    return [a for h in chosen for a in _addresses(hdr.value_of(h))]


def _qualify(address: str, cfg: Config) -> str:
    """The local rewrite context: an address without a domain gets @$myorigin."""
    return address if not address or "@" in address else f"{address}@{cfg.get('myorigin')}"


def _sender(opts: Options, cfg: Config) -> str:
    if opts.sender is None:
        try:
            return _qualify(pwd.getpwuid(os.getuid()).pw_name, cfg)
        except KeyError as e:
            raise Usage(f"no login name found for user ID {os.getuid()}", os.EX_OSERR) from e
    found = _addresses(opts.sender)
    return _qualify(found[0], cfg) if found else ""  # -f '' or -f '<>': the null sender


def _gecos_name() -> str:
    """The user's full name from the passwd entry, as Postfix's sendmail takes it: the GECOS
    field up to the first comma, `&` standing for the login name capitalized."""
    try:
        entry = pwd.getpwuid(os.getuid())
    except KeyError:
        return ""
    return entry.pw_gecos.split(",", 1)[0].replace("&", entry.pw_name.capitalize()).strip()


# --- submission ---------------------------------------------------------------------------------

def enqueue(cfg: Config, opts: Options, data: bytes) -> int:
    from affix.cli.queue import poke_server, setup_log

    content = read_message(data, opts.dot_ends_input)
    sender = _sender(opts, cfg)
    fullname = opts.fullname or os.environ.get("NAME", "") or _gecos_name()
    if fullname and sender and hdr.find(hdr.split(content), "from") is None:
        # sendmail(1): -F, $NAME or the passwd entry names the sender in the From: header
        # cleanup would add
        content = hdr.make("From", hdr.named_address(fullname, sender)) + content
    rcpts = [a for arg in opts.recipients for a in _addresses(arg)]
    if opts.extract:
        rcpts += header_recipients(content)
    if not rcpts:
        raise Usage("No recipient addresses found in message header" if opts.extract else
                    "Recipient addresses must be specified on the command line or via the "
                    "-t option")
    # the address as the user typed it stays the original recipient (orig_to=<root>,
    # X-Original-To: root), as Postfix keeps it
    env = Envelope(sender, [Recipient(q, r if q != r else "", notify=opts.notify)
                            for r in rcpts for q in [_qualify(r, cfg)]],
                   arrival=time.time(), body_type=opts.body_type, ret=opts.ret,
                   envid=opts.envid)
    setup_log(cfg)
    store = QueueStore(cfg.get("queue_directory"), cfg.bool("enable_long_queue_ids"))
    if not _may_write_queue(store):
        _drop(store.root, env, content, sender, cfg.size("message_size_limit"))
        return 0
    cleanup = Cleanup(cfg, store)
    try:
        pickup.submit_local(cfg, cleanup, env, content)
    except SubmitError as e:
        raise Usage(f"{sender}({os.getuid()}): {e.reply}", os.EX_TEMPFAIL) from e
    except OSError as e:
        raise Usage(f"{sender}({os.getuid()}): queue file write error: {e.strerror or e}",
                    os.EX_TEMPFAIL) from e
    poke_server(cfg)
    return 0


def _may_write_queue(store: QueueStore) -> bool:
    """Whether this user can queue mail itself: write access to incoming/, or, before
    anything made it, to the nearest directory above it that exists."""
    path = store.dir_of("incoming", "")
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return os.access(path, os.W_OK)


def _drop(root: str, env: Envelope, content: bytes, sender: str, size_limit: int) -> None:
    """A user who may not write the queue leaves the message in maildrop/ for the server's
    pickup (pickup.py); it waits there while no server runs. One that is too big is refused
    here, where the user hears of it."""
    try:
        maildrop.drop(root, env, content, size_limit)
    except maildrop.MaildropError as e:
        raise Usage(f"{sender}({os.getuid()}): {e}", os.EX_DATAERR) from e
    except OSError as e:
        raise Usage(f"{sender}({os.getuid()}): cannot leave the message in "
                    f"{os.path.join(root, maildrop.MAILDROP)}: {e.strerror or e} (has "
                    "the server ever started?)", os.EX_TEMPFAIL) from e
    maildrop.poke(root)
