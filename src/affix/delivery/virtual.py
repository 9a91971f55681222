"""virtual(8): mailboxes for users that are not system accounts (virtual(5) setup).

virtual_mailbox_maps gives each address (or `@domain`) a path below virtual_mailbox_base (an
absolute directory; the path is appended to it); a path ending
in `/` is a Maildir, otherwise an mbox file. virtual_uid_maps/virtual_gid_maps say whose the
mail is: when affix runs as root, the delivery (and any directory it makes) is done with that
uid and gid, and a recipient without both, or with a uid under virtual_minimum_uid or gid 0,
waits in the queue with "mail system configuration error", as with Postfix's virtual(8): mail
is not written as root (unless virtual_minimum_uid = 0 lets the maps say uid 0). A path with a
`..` component waits too: a regexp map may put the client's text in it. virtual_mailbox_limit
caps each file.
"""

from __future__ import annotations

import asyncio
import os

from affix import log
from affix.ascii import is_digits
from affix.config.snapshot import Config
from affix.delivery import mailbox, privs
from affix.delivery.agent import DeliveryRequest, Outcome, outcome_for
from affix.delivery.maps import DeliveryMaps
from affix.tables.base import TableError


def setup_problems(cfg: Config) -> list[tuple[str, str]]:
    """(parameter, what is wrong) for each setting that makes every virtual delivery wait:
    `affix check` warns of them at start, lint reports them (AFX-VIRT-001/002)."""
    if not cfg.get("virtual_mailbox_maps").strip():
        return []
    problems = []
    base = cfg.get("virtual_mailbox_base")
    if not base.startswith("/"):
        problems.append(("virtual_mailbox_base", f"virtual_mailbox_base = {base or '(empty)'} "
                                                 "is not an absolute directory"))
    for name in ("virtual_uid_maps", "virtual_gid_maps"):
        if not cfg.get(name).strip():
            problems.append((name, f"{name} is empty: the virtual mailboxes have no owner"))
    return problems


class VirtualAgent:
    name = "virtual"

    def __init__(self, cfg: Config, maps: DeliveryMaps | None = None):
        self.cfg = cfg
        self.maps = maps if maps is not None else DeliveryMaps(cfg)

    def destination(self, recipient: str) -> str:
        return recipient.lower()

    def concurrency(self) -> int:
        return max(1, self.cfg.int("local_destination_concurrency_limit"))

    async def deliver(self, request: DeliveryRequest) -> list[Outcome]:
        return [await asyncio.to_thread(self.deliver_sync, request)]

    def _lookup(self, param: str, address: str) -> str | None:
        value = self.maps.lookup(param, address)
        if value is None and "@" in address:
            value = self.maps.lookup(param, "@" + address.rpartition("@")[2])
        return value

    def deliver_sync(self, request: DeliveryRequest) -> Outcome:
        r = request.recipient
        address = r.address.lower()

        def out(dsn: str, text: str) -> Outcome:
            return outcome_for(r.address, dsn, text, "virtual", r.original)
        try:
            where = self._lookup("virtual_mailbox_maps", address)
            uid = self._lookup("virtual_uid_maps", address)
            gid = self._lookup("virtual_gid_maps", address)
        except TableError as e:
            log.warning("virtual", str(e))
            return out("4.3.0", "virtual mailbox map lookup problem")
        if where is None:
            return out("5.1.1", f'unknown user: "{address}"')
        base = self.cfg.get("virtual_mailbox_base")
        if not base.startswith("/"):
            log.warning("virtual", f"virtual_mailbox_base = {base}: "
                                   f"specify an absolute directory")
            return out("4.3.5", "mail system configuration error")
        who = privs.current()
        if os.geteuid() == 0:
            problem = self._owner_problem(address, uid, gid)
            if problem:
                log.warning("virtual", f"recipient {address}: {problem}")
                return out("4.3.5", "mail system configuration error")
            who = privs.Privs(int(uid or 0), int(gid or 0), address, base)
        if ".." in where.split("/") or "\0" in where:
            # a regexp map's $1 is the client's text: `a/../../x@domain` must not climb out
            # of the base, nor into another user's mailbox below it
            log.warning("virtual", f"recipient {address}: virtual_mailbox_maps result "
                                   f'"{where}" has a ".." component: refused')
            return out("4.3.5", "mail system configuration error")
        path = f"{base.rstrip('/')}/{where.lstrip('/')}"
        orig = r.original or r.address
        headers = mailbox.delivery_headers(request.envelope.sender, orig, r.address)
        return self._write(path, headers, request, who, out)

    def _owner_problem(self, address: str, uid: str | None, gid: str | None) -> str:
        if uid is None:
            return "not found in virtual_uid_maps"
        if gid is None:
            return "not found in virtual_gid_maps"
        if not is_digits(uid) or int(uid) < self.cfg.int("virtual_minimum_uid"):
            return f"bad uid {uid} in virtual_uid_maps"
        if not is_digits(gid) or int(gid) <= 0:
            return f"bad gid {gid} in virtual_gid_maps"
        return ""

    def _write(self, path: str, headers: bytes, request: DeliveryRequest,
               who: privs.Privs, out) -> Outcome:
        limit = self.cfg.size("virtual_mailbox_limit")
        try:
            if path.endswith("/"):
                privs.run_file_op(who, "maildir", path, headers + request.content, limit=limit)
                return out("2.0.0", "delivered to maildir")
            record = mailbox.mbox_record(request.envelope.sender, headers, request.content)
            privs.run_file_op(who, "mbox", path, record, limit=limit, parents=True,
                              locks=self.cfg.list("mailbox_delivery_lock"),
                              attempts=self.cfg.int("deliver_lock_attempts"),
                              delay=self.cfg.time("deliver_lock_delay"),
                              stale=self.cfg.time("stale_lock_time"))
            return out("2.0.0", "delivered to mailbox")
        except mailbox.LockError as e:
            return out("4.2.0", f"cannot update mailbox {path}. {e}")
        except OSError as e:
            dsn = mailbox.file_error_dsn(e.errno, mailbox.RETRY_BY_DEFAULT)
            if dsn == "5.2.2":  # virtual_mailbox_limit reached
                return out(dsn, f"cannot update mailbox {path}. error writing message: "
                                f"{os.strerror(e.errno)}")
            return out(dsn, f"cannot update mailbox {path}. {e.strerror}")
