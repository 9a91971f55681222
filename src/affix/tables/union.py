"""unionmap:{t1, t2, ...} (every table's result, joined with commas) and
pipemap:{t1, t2, ...} (each result is the next table's key), Postfix 3.0+."""

from __future__ import annotations

from affix.config.snapshot import Config, split_list
from affix.tables.base import Table, TableError
from affix.tables.simple import strip_braces


class CompositeTable(Table):
    def __init__(self, spec: str, kind: str, children: list[Table]):
        super().__init__(spec)
        self.kind = kind
        self.children = children
        self.fixed = all(c.fixed for c in children)
        self.warnings = tuple(w for c in children for w in getattr(c, "warnings", ()))

    def lookup(self, key: str) -> str | None:
        if self.kind == "pipemap":
            value: str | None = key
            for child in self.children:
                value = child.lookup(value)
                if value is None:
                    return None
            return value
        found = [v for v in (c.lookup(key) for c in self.children) if v is not None]
        return ",".join(found) if found else None

    def changed(self) -> bool:
        return any(c.changed() for c in self.children)

    def close(self) -> None:
        for c in self.children:
            c.close()


def open_composite(spec: str, kind: str, name: str, cfg: Config | None,
                   fold: bool) -> CompositeTable:
    from affix.tables.opener import open_table

    body = name.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise TableError(f'bad syntax: "{spec}"; need "{kind}:{{type:name...}}"')
    specs = split_list(strip_braces(body))
    if not specs:
        raise TableError(f'bad syntax: "{spec}"; need at least one table')
    return CompositeTable(spec, kind, [open_table(s, cfg, fold) for s in specs])
