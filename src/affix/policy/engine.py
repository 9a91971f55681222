"""The restriction engine: which lists run at which SMTP stage, and in what order (§1-2).

`RestrictionEngine.check(stage, state)` runs the lists for that stage through an Evaluation,
logs every reject/warn/hold/... line, and returns the Verdict smtpd acts on. The restrictions
themselves are looked up by name in affix.policy.registry.
"""

from __future__ import annotations

import itertools
from typing import Any

from affix import log
from affix.config.errors import ConfigError
from affix.config.snapshot import Config
from affix.dns.dnsbl import RblResult, parse_rbl_spec, rbl_lookup
from affix.dns.domains import host_lookup, mail_domain_lookup
from affix.policy import lists as L
from affix.policy import restrictions as _restrictions  # noqa: F401 - registers them all
from affix.policy.evaluation import Abort, Evaluation, Step, TraceRecord, steps
from affix.policy.policy_client import PolicyClient, PolicyEndpoint
from affix.policy.registry import Result
from affix.policy.request import SessionState, Stage, Verdict
from affix.policy.response import add_footer
from affix.policy.template import expand_template
from affix.policy.validate import check_restrictions, relay_rule_holds

__all__ = ["RestrictionEngine", "check_restrictions", "TraceRecord"]

# Per-session engine data lives in SessionState.policy_data under these keys.
# stages whose list is evaluated on its own: no flag of an earlier stage carries into them
_OWN_LIST = {Stage.DATA: L.DATA, Stage.END_OF_DATA: L.END_OF_DATA}
_DIP = "defer_if_permit"  # -> {"client": Reply|None, "helo": ..., "sender": ...}
_INSTANCE = "instance"
_DISCARDED = "discarded"  # -> the transaction (state.transactions) a DISCARD action applies to
_HELD = "held"  # -> the transaction a HOLD action applies to
_RBL = "rbl"  # -> {(zone spec, name, kind): RblResult} of this session
# stages inside a transaction: once it is discarded, none of them checks anything more
_IN_TRANSACTION = frozenset({Stage.RCPT, Stage.DATA, Stage.END_OF_DATA})

RELAY_RULE = ("in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify "
              "at least one working instance of: reject_unauth_destination, "
              "defer_unauth_destination, reject, defer, defer_if_permit or check_relay_domains")

_instances = itertools.count(1)


_WARNED: set[str] = set()  # deprecation warnings this process has logged


class RestrictionEngine:
    """Implements affix.policy.request.PolicyEngine for one service's config snapshot."""

    def __init__(self, cfg: Config, tables: Any, resolver: Any):
        self.cfg = cfg
        self.tables = tables  # affix.tables.TableCache
        self.resolver = resolver  # affix.dns.resolver.Resolver
        self.delay_reject = cfg.bool("smtpd_delay_reject")
        self.classes = frozenset(cfg.list("smtpd_restriction_classes"))
        self._lists = {param: cfg.list(param) for param in L.ALL_LISTS}
        self._steps = {param: steps(items) for param, items in self._lists.items()}
        self._class_steps: dict[str, tuple[Step, ...]] = {}
        self._matchlists: dict[str, Any] = {}
        self._policy: dict[str, PolicyClient] = {}
        self._warn_after_permit()

    # --- configuration ----------------------------------------------------------------------
    def restriction_steps(self, param: str) -> tuple[Step, ...]:
        return self._steps[param]

    def class_steps(self, name: str) -> tuple[Step, ...]:
        if name not in self._class_steps:
            self._class_steps[name] = steps(self.cfg.list(name))
        return self._class_steps[name]

    def startup_check(self) -> None:
        """config.md §3: smtpd refuses to start without a relay-blocking restriction."""
        if not relay_rule_holds(self.cfg):
            raise ConfigError(RELAY_RULE, *self._where_relay())

    def _where_relay(self) -> tuple[str | None, int | None]:
        for param in (L.RECIPIENT, L.RELAY):
            entry = self.cfg.entries.get(param)
            if entry is not None and self.cfg.config_dir:
                return f"{self.cfg.config_dir}/main.cf", entry.line
        return None, None

    def _warn_after_permit(self) -> None:
        for items in self._lists.values():
            lowered = [i.lower() for i in items]
            if "permit" in lowered[:-1]:
                rest = items[lowered.index("permit") + 1]
                log.warning("smtpd", f"restriction `{rest}' after `permit' is ignored")

    def warn_once(self, key: str, text: str) -> None:
        """Deprecation warnings are logged once per process: a reload (a new engine) does
        not repeat them in the mail log."""
        if key not in _WARNED:
            _WARNED.add(key)
            log.warning("smtpd", text)

    # --- shared resources -------------------------------------------------------------------
    def matchlist(self, param: str) -> Any:
        """A MatchList for a list-type parameter (mynetworks, relay_domains, ...), built once."""
        if param not in self._matchlists:
            from affix.tables.matchlist import MatchList

            self._matchlists[param] = MatchList(self.cfg, param, self.tables)
        return self._matchlists[param]

    def policy_client(self, spec: str) -> PolicyClient:
        """One reusable connection per policy server (ValueError for a bad endpoint)."""
        if spec not in self._policy:
            self._policy[spec] = PolicyClient(PolicyEndpoint.parse(self.cfg, spec))
        return self._policy[spec]

    def instance_id(self, state: SessionState) -> str:
        """The policy protocol's `instance`: one value per mail transaction (a new one at each
        MAIL), so that a policy server can tell the messages of one session apart."""
        data = state.policy_data
        current = data.get(_INSTANCE)
        if not isinstance(current, tuple) or current[0] != state.transactions:
            current = data[_INSTANCE] = (state.transactions,
                                         f"{id(state):x}.{next(_instances)}")
        return current[1]

    async def close(self) -> None:
        for client in self._policy.values():
            await client.close()

    # --- DNS (answers are cached by the resolver, negative ones included) --------------------
    async def rbl(self, ev: Evaluation, arg: str, what: str, kind: str) -> RblResult:
        try:
            spec = parse_rbl_spec(arg)
        except ValueError as e:
            log.fatal("smtpd", str(e), ev.state.syslog_name)
            ev.server_error()
        # a session asks each list once per name (Postfix keeps RBL answers in a cache):
        # another restriction naming the same zone gets the answer, and no second warning
        known = ev.state.policy_data.setdefault(_RBL, {})
        result = known.get((arg, what, kind))
        if result is None:
            result = known[(arg, what, kind)] = await rbl_lookup(self.resolver, spec, what,
                                                                  kind)
            if result.error:
                ev.warn(f"{result.query}: RBL lookup error: {result.error}")
        shown = ", ".join(result.addresses) or ("error" if result.error else "not listed")
        ev.note(f"DNS A {result.query or '(skipped)'}: {shown}"
                + (f"; TXT {result.txt}" if result.txt else ""))
        return result

    async def host_status(self, ev: Evaluation, name: str) -> str:
        result = await host_lookup(self.resolver, name)
        for w in result.warnings:
            ev.warn(w)
        ev.note(f"DNS host {name}: {result.status.name} {result.rdtype} {result.reason}".strip())
        return result.status.name

    async def mail_domain_status(self, ev: Evaluation, domain: str) -> str:
        result = await mail_domain_lookup(self.resolver, domain)
        for w in result.warnings:
            ev.warn(w)
        status = result.status.name
        if ev.trace is not None:
            ev.note(f"DNS mail domain {domain}: {status} {result.rdtype}".strip())
        return status

    # --- the stages -------------------------------------------------------------------------
    async def check(self, stage: Stage, state: SessionState,
                    trace: list[TraceRecord] | None = None) -> Verdict:
        own = _OWN_LIST.get(stage)  # (a Stage hashes in Python: looked up once)
        if own is not None and not self._lists[own]:
            return Verdict()  # DATA, END-OF-DATA: no flag carries over, an empty list passes
        if stage in _IN_TRANSACTION and self.discarding(state):
            # Postfix checks nothing more once DISCARD is decided: every recipient is taken
            # (nothing is delivered), and no more lines are logged for this transaction
            return Verdict()
        ev = Evaluation(self, stage, state, trace)
        try:  # noqa: SIM105 - contextlib.suppress costs more than most checks, per command
            await self._STAGES[stage](self, ev)
        except Abort:
            pass
        verdict = ev.verdict
        # a HOLD or DISCARD stays for the transaction even when this request is rejected
        # (smtpd applies them to it all the same)
        if verdict.hold:
            state.policy_data[_HELD] = state.transactions
        if verdict.discard:
            state.policy_data[_DISCARDED] = state.transactions
        if ev.final is not None:
            verdict.reply = self._with_footer(ev, ev.final)
        return verdict

    @staticmethod
    def discarding(state: SessionState) -> bool:
        """A DISCARD action was decided in this transaction."""
        return state.policy_data.get(_DISCARDED) == state.transactions

    @staticmethod
    def holding(state: SessionState) -> bool:
        """A HOLD action was decided in this transaction (Postfix logs only the first)."""
        return state.policy_data.get(_HELD) == state.transactions

    def _with_footer(self, ev: Evaluation, reply: Any) -> Any:
        footer = self.cfg.raw("smtpd_reject_footer") or ""
        if not footer:
            return reply
        st = ev.state
        return add_footer(reply, expand_template(self.cfg, footer, {
            "client_address": st.client_addr, "client_name": st.client_name,
            "client": st.client, "reverse_client_name": st.reverse_name}))

    def _saved(self, ev: Evaluation) -> dict[str, Any]:
        return ev.state.policy_data.setdefault(_DIP, {})

    async def _stage(self, ev: Evaluation, param: str, restore: str | None, save: str) -> Result:
        """client/helo/sender: start from the flag the previous stage left, save ours."""
        saved = self._saved(ev)
        ev.defer_if_permit = saved.get(restore) if restore else None
        ev.defer_if_reject = None
        result = await ev.run_list(param)
        if param == L.SENDER and result is not Result.REJECT and \
                self.cfg.bool("smtpd_reject_unlisted_sender") and not ev.unlisted_sender_checked:
            result = await ev.run_one(param, "reject_unlisted_sender")
        saved[save] = ev.defer_if_permit
        return result

    async def _early_stages(self, ev: Evaluation, upto: str) -> Result:
        """With delay_reject=yes the client, helo (and sender) lists run at RCPT/ETRN."""
        steps = [(L.CLIENT, None, "client"), (L.HELO, "client", "helo"),
                 (L.SENDER, "helo", "sender")]
        for param, restore, save in steps:
            if await self._stage(ev, param, restore, save) is Result.REJECT:
                return Result.REJECT
            if param == upto:
                break
        return Result.DUNNO

    async def _on_connect(self, ev: Evaluation) -> None:
        if not self.delay_reject:
            await self._stage(ev, L.CLIENT, None, "client")

    async def _on_helo(self, ev: Evaluation) -> None:
        if not self.delay_reject:
            await self._stage(ev, L.HELO, "client", "helo")

    async def _on_mail(self, ev: Evaluation) -> None:
        if not self.delay_reject:
            saved = self._saved(ev)
            await self._stage(ev, L.SENDER, "helo" if "helo" in saved else "client", "sender")

    async def _on_rcpt(self, ev: Evaluation) -> None:
        """§1 'Order at RCPT': postmaster, client, helo, sender, relay+recipient, flags."""
        rcpt = ev.recipient or ""
        if rcpt.lower() == "postmaster":  # RFC 5321 4.5.1: always accepted
            return
        if self.delay_reject:
            if await self._early_stages(ev, L.SENDER) is Result.REJECT:
                return
        else:
            ev.defer_if_permit = self._saved(ev).get("sender")
        ev.defer_if_reject = None  # the relay and recipient lists are one stage
        order = (L.RELAY, L.RECIPIENT) if self.cfg.bool(
            "smtpd_relay_before_recipient_restrictions") else (L.RECIPIENT, L.RELAY)
        for param in order:
            if ev.verdict.discard:  # decided by an earlier list: a discarded message takes
                break  # any recipient, none is ever delivered
            if await ev.run_list(param) is Result.REJECT:
                return
        if await self._finish(ev) is Result.REJECT:
            return
        if self.cfg.bool("smtpd_reject_unlisted_recipient") and \
                not ev.unlisted_recipient_checked and not ev.verdict.discard:
            await ev.run_one(L.RECIPIENT, "reject_unlisted_recipient")

    async def _finish(self, ev: Evaluation) -> Result:
        ev.warn_if_reject = 0
        return ev.apply_defer_if_permit()

    async def _on_etrn(self, ev: Evaluation) -> None:
        if self.delay_reject:
            if await self._early_stages(ev, L.HELO) is Result.REJECT:
                return
        else:
            ev.defer_if_permit = self._saved(ev).get("helo", self._saved(ev).get("client"))
        ev.defer_if_reject = None
        if await ev.run_list(L.ETRN) is not Result.REJECT:
            await self._finish(ev)

    async def _on_data(self, ev: Evaluation) -> None:
        ev.defer_if_permit = ev.defer_if_reject = None  # reset at DATA (§2)
        if await ev.run_list(L.DATA) is not Result.REJECT:
            await self._finish(ev)

    async def _on_end_of_data(self, ev: Evaluation) -> None:
        ev.defer_if_permit = ev.defer_if_reject = None
        if await ev.run_list(L.END_OF_DATA) is not Result.REJECT:
            await self._finish(ev)

    _STAGES = {
        Stage.CONNECT: _on_connect, Stage.HELO: _on_helo, Stage.EHLO: _on_helo,
        Stage.MAIL: _on_mail, Stage.RCPT: _on_rcpt, Stage.VRFY: _on_rcpt,
        Stage.ETRN: _on_etrn, Stage.DATA: _on_data, Stage.END_OF_DATA: _on_end_of_data,
    }
