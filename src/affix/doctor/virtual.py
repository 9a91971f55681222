"""The virtual mailbox setup (virtual(5)): what makes every virtual delivery wait."""

from __future__ import annotations

from collections.abc import Iterator

from affix.doctor.context import LintContext
from affix.doctor.findings import Finding, Severity
from affix.doctor.registry import check, finding

E = Severity.ERROR


@check(("AFX-VIRT-001", E, "virtual mailboxes without an absolute virtual_mailbox_base"),
       ("AFX-VIRT-002", E, "virtual mailboxes without an owner (virtual_uid_maps, _gid_maps)"))
def virtual_mailboxes(ctx: LintContext) -> Iterator[Finding]:
    cfg = ctx.cfg
    if not cfg.get("virtual_mailbox_maps").strip():
        return
    why = "every virtual delivery waits in the queue (4.3.5 mail system configuration error)"
    base = cfg.get("virtual_mailbox_base")
    if not base.startswith("/"):
        yield finding("AFX-VIRT-001", ctx.where("virtual_mailbox_base"),
                      f"virtual_mailbox_base = {base or '(empty)'} is not an absolute "
                      "directory", why, "virtual_mailbox_base = /var/mail/vhosts (a directory "
                      "the mailboxes' owner may write)")
    for name in ("virtual_uid_maps", "virtual_gid_maps"):
        if not cfg.get(name).strip():
            yield finding("AFX-VIRT-002", ctx.where(name),
                          f"{name} is empty: the virtual mailboxes have no owner",
                          why + "; mail is never written as root",
                          f"{name} = static:5000 (the uid/gid of your vmail user)")
