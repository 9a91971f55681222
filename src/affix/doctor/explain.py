"""`affix explain`: run one SMTP transaction's facts through the restriction engine, exactly as
smtpd would (same RestrictionEngine, same tables, same Resolver), and record what each
restriction consulted and decided, the reply, and the mail log line. No mail is sent.

Stages: with smtpd_delay_reject=no the client list runs at CONNECT, the helo list at EHLO and
the sender list at MAIL; otherwise all of them run at RCPT. DATA and END-OF-MESSAGE follow.
Evaluation stops at the first reject, as the session would. A --size over message_size_limit
is refused at MAIL, before any of that, as smtpd refuses MAIL ... SIZE= itself.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from affix import log
from affix.config.errors import ConfigError
from affix.config.mastercf import load_master
from affix.config.snapshot import Config, load_config
from affix.dns.client_name import ClientNames, NameStatus, lookup_client_name, normalize_address
from affix.dns.resolver import Resolver
from affix.doctor.tablesource import key_location
from affix.policy.engine import RestrictionEngine
from affix.policy.evaluation import TraceRecord
from affix.policy.request import SessionState, Stage
from affix.smtpd import replies
from affix.tables import TableCache

# Evaluation.search_table notes a hit as `TYPE:NAME: KEY = VALUE`.
_TABLE_HIT = re.compile(r"^(\S+?:\S+): (\S+) = (.*)$")


@dataclass(frozen=True)
class Request:
    client: str
    helo: str
    sender: str
    recipient: str
    name: str | None = None  # None: look it up in DNS as smtpd does
    size: int | None = None
    service: str | None = None  # master.cf service; None: the one on port 25 (or main.cf)


@dataclass(frozen=True)
class Step:
    """One TraceRecord plus the source lines of the table entries it consulted."""
    record: TraceRecord
    locations: tuple[str, ...]  # `FILE:LINE: key KEY` for each table hit

    def as_dict(self) -> dict[str, object]:
        r = self.record
        return {"list": r.list, "restriction": r.restriction, "consulted": list(r.consulted),
                "verdict": r.verdict, "depth": r.depth, "locations": list(self.locations)}


@dataclass
class StageResult:
    stage: str
    command: str  # the SMTP command the stage stands for
    steps: list[Step] = field(default_factory=list)
    reply: str | None = None  # None: this stage passed
    log: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"stage": self.stage, "command": self.command, "reply": self.reply,
                "log": self.log, "trace": [s.as_dict() for s in self.steps]}


@dataclass
class Explanation:
    client: str  # name[addr]
    names: ClientNames
    delay_reject: bool
    stages: list[StageResult] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # every line, including client-name warnings

    @property
    def rejected(self) -> StageResult | None:
        return next((s for s in self.stages if s.reply is not None), None)

    @property
    def deciding_step(self) -> Step | None:
        stage = self.rejected
        if stage is None:
            return None
        return next((s for s in stage.steps if s.record.verdict == stage.reply), None)

    def as_dict(self) -> dict[str, object]:
        n = self.names
        decided = self.deciding_step
        return {"client": self.client, "client_name": n.name, "reverse_name": n.reverse_name,
                "name_status": n.name_status.value, "delay_reject": self.delay_reject,
                "stages": [s.as_dict() for s in self.stages],
                "result": "rejected" if self.rejected else "accepted",
                "reply": self.rejected.reply if self.rejected else None,
                "decided_by": decided.as_dict() if decided else None, "log": self.log}


def _locations(record: TraceRecord) -> tuple[str, ...]:
    out = []
    for note in record.consulted:
        m = _TABLE_HIT.match(note)
        if m:
            where = key_location(m.group(1), m.group(2))
            if where is not None:
                out.append(f"{where}: key {m.group(2)}")
    return tuple(out)


async def client_names(resolver: Resolver, addr: str, name: str | None) -> ClientNames:
    """`--name` as given (treated as verified, like XCLIENT NAME=), else the PTR + forward
    lookup smtpd does."""
    if name is None:
        return await lookup_client_name(resolver, addr)
    addr = normalize_address(addr)
    # XCLIENT's special values: [UNAVAILABLE] (or "unknown") = no name, [TEMPUNAVAIL] = the
    # lookup failed temporarily.
    status = {"UNKNOWN": NameStatus.PERM, "[UNAVAILABLE]": NameStatus.PERM,
              "[TEMPUNAVAIL]": NameStatus.TEMP}.get(name.upper(), NameStatus.OK)
    if status is not NameStatus.OK:
        name = "unknown"
    return ClientNames(name, name, status, status, None, addr)


def _plan(cfg: Config, req: Request) -> list[tuple[Stage, str]]:
    early = [] if cfg.bool("smtpd_delay_reject") else [
        (Stage.CONNECT, "(connect)"), (Stage.EHLO, f"EHLO {req.helo}"),
        (Stage.MAIL, _mail_command(req))]
    return early + [(Stage.RCPT, f"RCPT TO:<{req.recipient}>"), (Stage.DATA, "DATA"),
                    (Stage.END_OF_DATA, "(end of data)")]


def _mail_command(req: Request) -> str:
    return f"MAIL FROM:<{req.sender}>" + (f" SIZE={req.size}" if req.size else "")


def _size_refused(cfg: Config, state: SessionState, req: Request,
                  stream: io.StringIO) -> StageResult | None:
    """smtpd's own check of MAIL's SIZE= (no restriction list is involved)."""
    limit = cfg.size("message_size_limit")
    if not (limit and req.size and req.size > limit):
        return None
    mark = stream.tell()
    reply = replies.SIZE_FIXED_LIMIT
    log.smtpd_action("reject", None, "MAIL", state.client, str(reply), sender=req.sender,
                     protocol="ESMTP", helo=req.helo, syslog_name=cfg.get("syslog_name") or None)
    stream.seek(mark)
    lines = [ln for ln in stream.read().splitlines() if ln]
    return StageResult(Stage.MAIL.value, _mail_command(req), [], str(reply), lines)


def _advance(state: SessionState, stage: Stage, req: Request) -> None:
    """What smtpd knows when it checks this stage. The helo list runs inside the EHLO
    command, before the session becomes ESMTP: its log line says proto=SMTP, as Postfix's
    (smtpd ehlo_cmd checks the name first and sets the protocol after)."""
    if stage is Stage.EHLO:
        state.helo = req.helo
    if stage in (Stage.MAIL, Stage.RCPT):
        state.helo, state.protocol = req.helo, "ESMTP"
    if stage in (Stage.MAIL, Stage.RCPT):
        state.sender, state.size = req.sender, req.size
    if stage is Stage.RCPT:
        state.recipient = req.recipient
    if stage is Stage.DATA:
        state.recipient, state.recipients = None, [req.recipient]


def service_config(config_dir: str | None, name: str | None) -> Config:
    """The snapshot the named master.cf smtpd service runs with (main.cf plus its -o).
    Without a name: the smtp service (port 25) if master.cf has one, else main.cf alone."""
    cfg = load_config(config_dir)
    services, _notes = load_master(config_dir)
    for svc in services:
        if name in (svc.name, svc.service_name) or (
                name is None and (svc.service_name == "smtp" or svc.port == 25)):
            return svc.config(cfg)
    if name is None:
        return cfg
    raise ConfigError(f'master.cf has no inet smtpd service "{name}"')


async def explain(config_dir: str | None, req: Request) -> Explanation:
    cfg = service_config(config_dir, req.service)
    resolver = Resolver.from_config(cfg)
    engine = RestrictionEngine(cfg, TableCache(cfg), resolver)
    stream = io.StringIO()
    old = log.get_log()
    log.set_log(log.MailLog(syslog_name=cfg.get("syslog_name") or "postfix",
                            hostname=cfg.get("myhostname") or None, stream=stream))
    try:
        return await _run(cfg, engine, resolver, req, stream)
    finally:
        log.set_log(old)
        await engine.close()


async def _run(cfg: Config, engine: RestrictionEngine, resolver: Resolver, req: Request,
               stream: io.StringIO) -> Explanation:
    names = await client_names(resolver, req.client, req.name)
    if names.warning:
        log.warning("smtpd", names.warning)
    state = SessionState(client_addr=names.addr, client_name=names.name,
                         reverse_name=names.reverse_name, name_status=names.name_status,
                         reverse_status=names.reverse_status)
    result = Explanation(state.client, names, cfg.bool("smtpd_delay_reject"))
    for stage, command in _plan(cfg, req):
        _advance(state, stage, req)
        if stage in (Stage.MAIL, Stage.RCPT) and not any(
                s.stage in (Stage.MAIL.value, Stage.RCPT.value) for s in result.stages):
            refused = _size_refused(cfg, state, req, stream)
            if refused is not None:
                result.stages.append(refused)
                break
        trace: list[TraceRecord] = []
        mark = stream.tell()
        verdict = await engine.check(stage, state, trace)
        stream.seek(mark)
        lines = [ln for ln in stream.read().splitlines() if ln]
        reply = str(verdict.reply) if verdict.reply is not None else None
        result.stages.append(StageResult(stage.value, command,
                                         [Step(r, _locations(r)) for r in trace], reply, lines))
        if reply is not None:
            break
    result.log = [ln for ln in stream.getvalue().splitlines() if ln]
    return result


def format_text(ex: Explanation) -> str:
    n = ex.names
    out = [f"client: {ex.client} (name status {n.name_status.value}; reverse name "
           f"{n.reverse_name})"]
    if n.warning:
        out.append(f"  warning: {n.warning}")
    out.append("smtpd_delay_reject = " + ("yes: client, helo and sender lists run at RCPT"
                                          if ex.delay_reject else "no"))
    for stage in ex.stages:
        out.append(f"\n{stage.stage}: {stage.command}")
        current = None
        for step in stage.steps:
            r = step.record
            if r.list != current:
                out.append(f"  {r.list}")
                current = r.list
            pad = "  " * (r.depth + 1)
            out.append(f"{pad}{r.restriction}  ->  {r.verdict}")
            out.extend(f"{pad}    {note}" for note in r.consulted)
            out.extend(f"{pad}    at {loc}" for loc in step.locations)
        if not stage.steps:
            out.append("  (no restrictions for this stage)")
        if stage.reply:
            out.append(f"  reply: {stage.reply}")
        out.extend(f"  log: {line}" for line in stage.log)
    out.append("")
    decided = ex.deciding_step
    if ex.rejected is None:
        out.append("result: accepted (no restriction rejects this transaction)")
    else:
        by = f" by {decided.record.list}: {decided.record.restriction}" if decided else ""
        at = f" ({'; '.join(decided.locations)})" if decided and decided.locations else ""
        out.append(f"result: rejected at {ex.rejected.stage}{by}{at}")
        out.append(f"reply: {ex.rejected.reply}")
    return "\n".join(out) + "\n"
