"""Atomic replacement under concurrent readers; check_table for `affix check`."""

from __future__ import annotations

import threading

from affix.tables import TableCache
from affix.tables.check import check_table
from affix.tables.compile import Options, compile_source


def test_reader_never_sees_an_error_while_table_is_recompiled(tmp_path):
    src = tmp_path / "t"
    src.write_text("".join(f"key{i} value{i}-0\n" for i in range(2000)))
    compile_source(str(src), Options(), [])
    spec = f"hash:{src}"
    errors: list[BaseException] = []
    seen: set[str] = set()
    done = threading.Event()

    def reader() -> None:
        cache = TableCache(None)
        try:
            while not done.is_set():
                cache.recheck()  # as every new SMTP session does
                value = cache.get(spec).lookup("key1999")
                if value is None or not value.startswith("value1999-"):
                    raise AssertionError(f"bad value {value!r}")
                seen.add(value)
        except BaseException as e:  # noqa: BLE001 - reported to the test thread
            errors.append(e)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(1, 40):
            src.write_text("".join(f"key{i} value{i}-{n}\n" for i in range(2000)))
            compile_source(str(src), Options(), [])
    finally:
        done.set()
        thread.join()
    assert errors == []
    assert len(seen) > 1  # the reader did follow recompiles


def test_check_table_reports_source_lines_and_stale_index(tmp_path):
    src = tmp_path / "t"
    src.write_text("a 1\n")
    compile_source(str(src), Options(), [])
    src.write_text("a 1\nnovalue\n")
    import os

    os.utime(src, (os.path.getmtime(src) + 10,) * 2)
    problems = check_table(f"hash:{src}")
    assert problems[0] == f"{src}:2: expected format: key whitespace value"
    assert "older than source file" in problems[1]


def test_check_table_reports_pattern_rules_and_open_errors(tmp_path):
    rx = tmp_path / "re"
    rx.write_text("/a/ A\n/(b/ B\n")
    assert check_table(f"regexp:{rx}")[0].startswith(f"{rx}:2: ")
    cidr = tmp_path / "c"
    cidr.write_text("10.0.0.1/8 X\n")
    assert check_table(f"cidr:{cidr}") == [
        f'{cidr}:1: non-null host address bits in "10.0.0.1/8", perhaps you should use '
        '"10.0.0.0/8" instead: skipping this rule']
    assert "No such file" in check_table(f"hash:{tmp_path / 'none'}")[0]
    assert check_table("foo:bar") == ["unsupported dictionary type: foo"]
    assert check_table("inline:{a=1}") == []


def test_check_table_runs_the_sqlite_query(tmp_path):
    import sqlite3

    db = tmp_path / "d.sqlite"
    sqlite3.connect(db).close()
    cf = tmp_path / "q.cf"
    cf.write_text(f"dbpath = {db}\nquery = SELECT x FROM missing WHERE k='%s'\n")
    problems = check_table(f"sqlite:{cf}")
    assert len(problems) == 1 and "no such table: missing" in problems[0]
