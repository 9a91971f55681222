"""The virtual mailbox setup (virtual(5)): what makes every virtual delivery wait."""

from __future__ import annotations

from collections.abc import Iterator

from affix.delivery.virtual import setup_problems
from affix.doctor.context import LintContext
from affix.doctor.findings import Finding, Severity
from affix.doctor.registry import check, finding

E = Severity.ERROR


@check(("AFX-VIRT-001", E, "virtual mailboxes without an absolute virtual_mailbox_base"),
       ("AFX-VIRT-002", E, "virtual mailboxes without an owner (virtual_uid_maps, _gid_maps)"))
def virtual_mailboxes(ctx: LintContext) -> Iterator[Finding]:
    why = ("when affix runs as root, every virtual delivery waits in the queue (4.3.5 mail "
           "system configuration error): mail is not written as root")
    for name, problem in setup_problems(ctx.cfg):
        if name == "virtual_mailbox_base":
            yield finding("AFX-VIRT-001", ctx.where(name), problem, why,
                          "virtual_mailbox_base = /var/mail/vhosts, a directory the mailboxes' "
                          "owner may write")
        else:
            yield finding("AFX-VIRT-002", ctx.where(name), problem, why,
                          f"{name} = static:5000, the uid or gid of your vmail user")
