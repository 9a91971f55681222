"""docs/parameters.md, generated from the registry (`affix conf --doc > docs/parameters.md`)."""

from __future__ import annotations

from affix.config.params import PARAMS, RENAMED, Param

_INTRO = """\
# affix parameters

Generated from the parameter registry (src/affix/config/params.py) by
`affix conf --doc > docs/parameters.md`; do not edit by hand.

affix reads Postfix's main.cf syntax and uses Postfix 3.7's defaults, except where the table
below says otherwise. `affix conf -d NAME` prints a default, `affix conf NAME` the value in use,
`affix conf -e NAME=VALUE` changes main.cf in place.

## Where affix differs from Postfix 3.7

| Parameter | affix default | Why |
|---|---|---|
"""

_NOTES = """
## Notes

- **syslog_name** stays `postfix` by default, so that log tools (fail2ban, pflogsumm, logwatch)
  keep matching `postfix/smtpd[PID]:` lines. To change it, set `syslog_name = affix` in main.cf,
  or per service in master.cf with `-o syslog_name=affix/submission`.
- **mail_name** is `affix`, so the default greeting reads `220 HOST ESMTP affix`; set
  `mail_name = Postfix` to keep the old text, or set `smtpd_banner` directly.
- **myhostname**, **mydomain** and **mynetworks** are computed when not set: the system host
  name (with `.$mydomain` appended when it has no dot, `.localdomain` when mydomain is not set
  either; no DNS lookup), the host name minus its first label, and the local interface
  addresses as mynetworks_style says (`host`: each address
  as /32 or /128; `subnet`: each interface's network; `class`: the whole class A/B/C network).
- **master.cf**: affix runs the `inet` services whose command is `smtpd`. A configuration
  directory without master.cf gets one service, `smtp inet n - n - - smtpd` (port 25 on every
  address in inet_interfaces). Without any configuration directory affix uses its built-in
  configuration and listens on 127.0.0.1:2525. The `smtpd pass` service behind postscreen
  lends its `-o` settings to the postscreen port, where affix runs smtpd.
- **myorigin** may name a file, as Debian's Internet Site setup writes it
  (`myorigin = /etc/mailname`): the mail name is the file's first line, as with Debian's
  Postfix.
- Settings of Postfix features affix does not have (content_filter, milters,
  mailbox_transport, relayhost, ...: src/affix/config/unsupported.py) are warned about at
  start and by `affix check`, saying what does not happen. A FILTER action keeps its message
  in the queue rather than deliver it unscanned.
- A reject by **smtpd_end_of_data_restrictions** ends the transaction; Postfix keeps its sender
  and recipients, so that a client's next MAIL gets `503 5.5.1 Error: nested MAIL command`.
  A BCC action that fires several times adds its recipient once.
- Old names still honoured: {renamed}.

## All parameters

Kinds: string, boolean (`yes`/`no`), integer, size (bytes), time (a number with an optional
unit `s m h d w`; the unit shown applies to a bare number), list (separated by commas and/or
white space, `{ }` groups), maps (a list of `type:name` tables), restrictions.

| Parameter | Kind | Default | Meaning |
|---|---|---|---|
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(p: Param) -> str:
    return f"`{_cell(p.default)}`" if p.default else "(empty)"


def _kind(p: Param) -> str:
    return f"time ({p.unit})" if p.kind.value == "time" else p.kind.value


def parameters_markdown() -> str:
    params = sorted(PARAMS.values(), key=lambda p: p.name)
    lines = [_INTRO.rstrip("\n")]
    lines += [f"| {p.name} | {_default(p)} | {_cell(p.affix)} |" for p in params if p.affix]
    renamed = ", ".join(f"{old} (now {new})" for old, new in sorted(RENAMED.items()))
    lines.append(_NOTES.replace("{renamed}", renamed).rstrip("\n"))
    lines += [f"| {p.name} | {_kind(p)} | {_default(p)} | {_cell(p.doc)} |" for p in params]
    return "\n".join(lines) + "\n"
