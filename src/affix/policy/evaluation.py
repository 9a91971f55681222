"""One evaluation of restriction lists: the state Postfix keeps in SMTPD_STATE while it checks.

The engine creates an Evaluation per check() call; restrictions read the session through it and
answer through `reject`, `defer_if_permit`, `defer_if_reject`, `tempfail` and `server_error`,
so the flag rules (restrictions.md §2) and the reply rules (§3) live in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from affix import log
from affix.config.snapshot import Config
from affix.policy.lists import CONTEXTS, ListContext, log_stage, reply_name
from affix.policy.registry import Arg, RestrictionSpec, Result, lookup
from affix.policy.request import SessionState, Stage, Verdict
from affix.policy.response import fix_dsn, make_reply, soft_bounce
from affix.reply import Reply
from affix.tables import TableError
from affix.tables.access import Found, search

if TYPE_CHECKING:
    from affix.policy.engine import RestrictionEngine

MAX_NESTING = 100  # access-table values and classes nest at most this deep (tables.md §4)

# One restriction of a list: its name as written, its argument (the element after it, for a
# restriction that takes one) and its registry entry (None for warn_if_reject, a restriction
# class and a bare type:table).
Step = tuple[str, "str | None", "RestrictionSpec | None"]


def steps(items: list[str] | tuple[str, ...]) -> tuple[Step, ...]:
    """A restriction list as the steps walk() takes (the engine makes those of its lists and
    classes once: a message runs several lists)."""
    out: list[Step] = []
    i = 0
    while i < len(items):
        name, i = items[i], i + 1
        spec = lookup(name)
        arg = None
        if spec is not None and spec.arg is not Arg.NONE and i < len(items):
            arg, i = items[i], i + 1
        out.append((name, arg, spec))
    return tuple(out)


# Postfix's list, in its order, for the bare-table warning in the DATA/END-OF-DATA lists.
_ACCESS_CHECKS = ("check_client_access, check_reverse_client_hostname_access, "
                  "check_helo_access, check_sender_access, check_recipient_access, "
                  "check_etrn_access")


class Abort(Exception):
    """A server error or temporary lookup failure ends the whole evaluation (a 4xx reply)."""


@dataclass(frozen=True)
class TraceRecord:
    """One restriction evaluated, for `affix explain`."""
    list: str
    restriction: str  # as written, with its argument
    consulted: tuple[str, ...]  # tables, keys, DNS queries and what they answered
    verdict: str  # DUNNO, OK, or the reply / reject_warning / flag raised
    depth: int  # 1 for the list itself, more inside classes and access-table values


class Evaluation:
    def __init__(self, engine: RestrictionEngine, stage: Stage, state: SessionState,
                 trace: list[TraceRecord] | None):
        self.engine = engine
        self.cfg: Config = engine.cfg
        self.stage = stage
        self.state = state
        self.trace = trace
        self.recipient = self._current_recipient()
        self.verdict = Verdict()
        self.final: Reply | None = None
        self.lst: ListContext = CONTEXTS["smtpd_client_restrictions"]
        self.recursion = 0
        self.warn_if_reject = 0
        self.defer_if_permit: Reply | None = None
        self.defer_if_reject: Reply | None = None
        self.unlisted_recipient_checked = False
        self.unlisted_sender_checked = False
        self._notes: list[str] = []
        self._last_event = ""

    def _current_recipient(self) -> str | None:
        """At RCPT/VRFY the address being checked; at DATA only a single recipient counts."""
        if self.stage in (Stage.RCPT, Stage.VRFY):
            return self.state.recipient
        if self.stage in (Stage.DATA, Stage.END_OF_DATA) and len(self.state.recipients) == 1:
            return self.state.recipients[0]
        return None

    @property
    def reply_name(self) -> str:
        """What the current list's replies name: the client, the HELO name, the address..."""
        return reply_name(self.lst.param, self.state, self.recipient)

    # --- logging and tracing ------------------------------------------------------------------
    def log_action(self, action: str, text: str) -> None:
        """`QID: ACTION: STAGE from NAME[ADDR]: TEXT; from=<S> to=<R> proto=P helo=<H>`."""
        st = self.state
        log.smtpd_action(action, st.queue_id, log_stage(self.stage), st.client, text,
                         sender=st.sender, recipient=self.recipient, protocol=st.protocol,
                         helo=st.helo, syslog_name=st.syslog_name)
        self._last_event = f"{action}: {text}"

    def warn(self, text: str) -> None:
        log.warning("smtpd", text, self.state.syslog_name)

    def note(self, text: str) -> None:
        """Record what a restriction consulted (table and key, DNS query) and the answer.
        (Where making the text costs more than a format, the caller tests ev.trace first: a
        real session, every message, has no trace.)"""
        if self.trace is not None:
            self._notes.append(text)

    # --- answers --------------------------------------------------------------------------------
    def reject(self, code: int, dsn: str, text: str, software: bool = False) -> Result:
        """smtpd_check_reject: validate, warn_if_reject, soft_bounce, defer_if_reject, log."""
        built = make_reply(code, dsn, text)
        if built.warning:
            self.warn(built.warning)
        reply = built.reply
        if self.warn_if_reject and not software:
            self.log_action("reject_warning", str(reply))
            return Result.DUNNO
        if self.cfg.bool("soft_bounce"):
            reply = soft_bounce(reply)
        if self.defer_if_reject is not None and reply.code >= 500:
            reply = self.defer_if_reject
        self.log_action("reject", str(reply))
        self.final = reply
        return Result.REJECT

    def reject_fixed(self, code: int, dsn: str, text: str, reply_class: str) -> Result:
        """A reject whose DSN came from a table or template: fix X.1.Y per class first."""
        # the log line names the status as the table wrote it (`4.1.1` in a 550 entry); the
        # reply's status then takes the reply code's class
        fixed, note = fix_dsn(dsn, reply_class)
        if note:
            log.info("smtpd", note, self.state.syslog_name)
        return self.reject(code, str(code)[:1] + fixed[1:] if fixed else fixed, text)

    def _flag(self, code: int, dsn: str, text: str) -> Reply:
        built = make_reply(code, dsn, text)
        if built.warning:
            self.warn(built.warning)
        return built.reply

    def raise_defer_if_permit(self, code: int, dsn: str, text: str) -> Result:
        """Keep the first reason; with warn_if_reject active it is only a reject_warning."""
        if self.warn_if_reject:
            return self.reject(code, dsn, text)
        if self.defer_if_permit is None:
            self.defer_if_permit = self._flag(code, dsn, text)
            self._last_event = f"defer_if_permit: {self.defer_if_permit}"
        return Result.DUNNO

    def raise_defer_if_reject(self, code: int, dsn: str, text: str) -> Result:
        if self.defer_if_reject is None:
            self.defer_if_reject = self._flag(code, dsn, text)
            self._last_event = f"defer_if_reject: {self.defer_if_reject}"
        return Result.DUNNO

    def tempfail(self, action_param: str, code: int, dsn: str, text: str) -> Result:
        """A temporary DNS/lookup problem, handled per the *_tempfail_action parameter."""
        action = self.cfg.get(action_param).strip().lower()
        if action == "defer":
            return self.reject(code, dsn, text)
        if action == "defer_if_reject":
            return self.raise_defer_if_reject(code, dsn, text)
        if action != "defer_if_permit":
            self.warn(f'{action_param}: unknown value "{action}"; using defer_if_permit')
        return self.raise_defer_if_permit(code, dsn, text)

    def apply_defer_if_permit(self) -> Result:
        """After the last list: a pending defer_if_permit turns a pass into its 4xx."""
        if self.defer_if_permit is None:
            return Result.DUNNO
        flag = self.defer_if_permit
        return self.reject(flag.code, flag.dsn or "4.7.1", flag.text)

    def server_error(self, *warnings: str) -> NoReturn:
        """`451 4.3.5 Server configuration error`; ends the whole evaluation."""
        for w in warnings:
            self.warn(w)
        self.reject(451, "4.3.5", "Server configuration error", software=True)
        raise Abort()

    def table_failure(self, err: Exception, reply_name: str) -> NoReturn:
        """A lookup failed: temporary -> 4.3.0 Temporary lookup failure, else 4.3.5."""
        self.warn(str(err))
        self.note(f"table error: {err}")
        if getattr(err, "temporary", False):
            self.reject(451, "4.3.0", f"<{reply_name}>: Temporary lookup failure",
                        software=True)
            raise Abort()
        self.server_error()

    # --- tables ---------------------------------------------------------------------------------
    def search_table(self, spec: str, keys_for: Callable[[bool], list[str]],
                     reply_name: str) -> Found | None:
        """Open `spec` (once per engine) and search the keys `keys_for(table.fixed)` gives."""
        try:
            table = self.engine.tables.get(spec)
            keys = keys_for(table.fixed)
            found = search(table, keys)
        except TableError as e:
            self.table_failure(e, reply_name)
        if self.trace is not None:
            self.note(f"{spec}: " + (f"{found.key} = {found.value}" if found
                                      else f"no entry for {', '.join(keys)}"))
        return found

    # --- walking lists --------------------------------------------------------------------------
    async def run_list(self, param: str) -> Result:
        """One stage's list, with the per-stage resets (Postfix's SMTPD_CHECK_RESET)."""
        self.lst = CONTEXTS[param]
        self.recursion = 0
        self.warn_if_reject = 0
        return await self.walk(self.engine.restriction_steps(param))

    async def walk(self, items: tuple[Step, ...]) -> Result:
        """Evaluate restrictions in order until one decides; the end of the list is DUNNO."""
        if self.recursion >= MAX_NESTING:
            self.server_error(f"restriction nesting deeper than {MAX_NESTING} levels")
        self.recursion += 1
        try:
            for name, arg, spec in items:
                if self.defer_if_permit is not None and self.defer_if_reject is not None:
                    break  # both flags raised: nothing can change the outcome
                if spec is None and name.lower() == "warn_if_reject":
                    self.warn_if_reject = self.warn_if_reject or self.recursion
                    continue
                if self.trace is None:  # a real session: straight to the restriction
                    result = await self._dispatch(name, arg, spec)
                else:
                    result = await self._one(name, arg, spec)
                if self.warn_if_reject >= self.recursion:
                    self.warn_if_reject = 0
                if result is not Result.DUNNO:
                    return result
            return Result.DUNNO
        finally:
            self.recursion -= 1

    async def run_one(self, param: str, name: str) -> Result:
        """One restriction outside any list (the implicit reject_unlisted_* checks)."""
        self.lst = CONTEXTS[param]
        return await self._one(name, None)

    async def _one(self, name: str, arg: str | None,
                   spec: RestrictionSpec | None = None) -> Result:
        if self.trace is None:  # a real session: nothing to record
            return await self._dispatch(name, arg, spec or lookup(name))
        outer, self._notes, self._last_event = self._notes, [], ""
        label = f"{name} {arg}" if arg is not None else name
        try:
            result = await self._dispatch(name, arg, spec or lookup(name))
        except Abort:
            self._record(label, str(self.final))
            self._notes = outer
            raise
        verdict = str(self.final) if result is Result.REJECT else (
            self._last_event or result.value)
        self._record(label, verdict)
        self._notes = outer
        return result

    def _record(self, label: str, verdict: str) -> None:
        if self.trace is not None:
            self.trace.append(TraceRecord(self.lst.param, label, tuple(self._notes), verdict,
                                          self.recursion))

    async def _dispatch(self, name: str, arg: str | None, spec: RestrictionSpec | None,
                        ) -> Result:
        if spec is not None:
            if spec.deprecation:
                self.engine.warn_once(spec.name, spec.deprecation)
            return await spec.fn(self, arg)
        if ":" in name:
            return await self._bare_table(name)
        if name in self.engine.classes:
            self.note(f"restriction class {name}")
            return await self.walk(self.engine.class_steps(name))
        self.server_error(f'unknown smtpd restriction: "{name}"')

    async def _bare_table(self, table: str) -> Result:
        """A bare `type:table` is the list's own check_*_access (§1), except for DATA/EOD."""
        if self.lst.bare_table is None:
            self.server_error(f"specify one of ({_ACCESS_CHECKS}) before "
                              f'{self.lst.reply_class} restriction "{table}"')
        spec = lookup(self.lst.bare_table)
        assert spec is not None
        self.note(f"bare table means {self.lst.bare_table}")
        return await spec.fn(self, table)
