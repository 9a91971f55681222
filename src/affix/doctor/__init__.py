"""`affix lint` and `affix explain`: find configuration mistakes, and show how the server
would decide one SMTP transaction.

One module per family of lint checks (syntax, dnsbl, restrictions, tables, smtp, sizes,
headers, compat), each check a small function registered in affix.doctor.registry.
`lint_findings(cfg_dir)` runs them all; `affix check` may reuse it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from affix.doctor.findings import Finding


def lint_findings(cfg_dir: str | None, dns: bool = False) -> list[Finding]:
    from affix.doctor.lint import lint_findings as run

    return run(cfg_dir, dns)


__all__ = ["lint_findings"]
