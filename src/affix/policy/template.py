"""`$name` expansion of reply templates (default_rbl_reply, smtpd_reject_footer; §6).

Expansion is one level deep: a value that itself contains `$` is not expanded again. Characters
of a value that are not in smtpd_expansion_filter become `_`, so a client cannot inject text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from affix.config.maincf import expand
from affix.config.snapshot import Config

_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|(.))", re.S)
_C_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v", "b": "\b", "a": "\a"}


def filter_chars(raw: str) -> frozenset[str]:
    """The character set of smtpd_expansion_filter, with its C-style escapes decoded."""
    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return chr(int(m.group(1), 8))
        return _C_ESCAPES.get(m.group(2), m.group(2))
    return frozenset(_ESCAPE.sub(one, raw))


def expand_template(cfg: Config, template: str, variables: Mapping[str, str]) -> str:
    allowed = filter_chars(cfg.raw("smtpd_expansion_filter") or "")

    def clean(value: str) -> str:
        return "".join(c if c in allowed else "_" for c in value)

    def lookup(name: str) -> str | None:
        if name in variables:
            # `$$` keeps the value's own `$` literal: one level of expansion only.
            return clean(variables[name]).replace("$", "$$")
        value = cfg.raw(name)
        return None if value is None else cfg.get(name).replace("$", "$$")

    return expand(template, lookup)
