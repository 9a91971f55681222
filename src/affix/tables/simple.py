"""Tables held in memory: texthash (a source file read at open), inline:{...} and static:."""

from __future__ import annotations

from affix.config.snapshot import split_list
from affix.tables.base import FileTable, Table, TableError, empty_result, read_text
from affix.tables.source import Problem, source_records


class DictTable(Table):
    """A fixed-key table backed by a dict of folded keys."""

    fixed = True

    def __init__(self, spec: str, entries: dict[str, str], fold: bool = True):
        super().__init__(spec)
        self.warnings: tuple[str, ...] = ()
        self._entries = entries
        self._fold = fold

    def lookup(self, key: str) -> str | None:
        if self._fold:
            key = key.lower()
        value = self._entries.get(key)
        if value == "":
            raise empty_result(self.spec, key)
        return value

    def items(self) -> list[tuple[str, str]]:
        return list(self._entries.items())


class TexthashTable(DictTable, FileTable):
    """texthash:FILE — the postmap source format, read when the table is opened."""

    def __init__(self, spec: str, name: str, fold: bool = True):
        self._remember(name)
        problems: list[Problem] = []
        entries: dict[str, str] = {}
        for key, value, line in source_records(read_text(name, spec), name, problems):
            folded = key.lower() if fold else key
            if folded in entries:
                # texthash names the line, unlike the indexed types (tables.md §2)
                problems.append(Problem(name, line, f'duplicate entry: "{key}"'))
                continue
            entries[folded] = value
        super().__init__(spec, entries, fold)
        self.warnings = tuple(str(p) for p in problems)


def strip_braces(text: str) -> str:
    """`{ text }` -> `text` (whitespace after `{` and before `}` is ignored)."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        return text[1:-1].strip()
    return text


def inline_table(spec: str, name: str, fold: bool = True) -> DictTable:
    """inline:{ k1=v1, { k2 = value with spaces } } (Postfix 3.0+); the last duplicate wins."""
    body = name.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise TableError(f'bad syntax: "{spec}"; need "inline:{{name=value...}}"')
    entries: dict[str, str] = {}
    for element in split_list(body[1:-1]):
        key, sep, value = strip_braces(element).partition("=")
        if not sep or not key.strip():
            raise TableError(f'missing \'=\' after attribute name: "{spec}"; '
                             f'need "inline:{{name=value...}}"')
        key = key.strip()
        entries[key.lower() if fold else key] = value.strip()
    return DictTable(spec, entries, fold)


class StaticTable(Table):
    """static:VALUE or static:{ text with spaces } — every lookup returns VALUE."""

    fixed = True

    def __init__(self, spec: str, name: str):
        super().__init__(spec)
        self.value = strip_braces(name)

    def lookup(self, key: str) -> str | None:
        if not self.value:
            raise empty_result(self.spec, key)
        return self.value
