"""sqlite: tables with a real database file; unionmap, pipemap, proxy."""

from __future__ import annotations

import sqlite3

import pytest

from affix.tables import TableError, open_table


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "mail.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE aliases (address TEXT, goto TEXT);
        INSERT INTO aliases VALUES ('postmaster@example.com', 'root@example.com');
        INSERT INTO aliases VALUES ('team@example.com', 'ann@example.com');
        INSERT INTO aliases VALUES ('team@example.com', 'bob@example.com');
        INSERT INTO aliases VALUES ('o''brien@example.com', 'ob@example.com');
        CREATE TABLE domains (name TEXT);
        INSERT INTO domains VALUES ('example.com');
    """)
    con.commit()
    con.close()
    return path


def cf(tmp_path, db, body: str) -> str:
    path = tmp_path / "q.cf"
    path.write_text(f"dbpath = {db}\n{body}")
    return f"sqlite:{path}"


def test_sqlite_query_with_key_folded_and_rows_joined(tmp_path, db):
    t = open_table(cf(tmp_path, db, "query = SELECT goto FROM aliases WHERE address='%s'\n"))
    assert t.fixed
    assert t.lookup("Postmaster@Example.com") == "root@example.com"
    assert t.lookup("team@example.com") == "ann@example.com,bob@example.com"
    assert t.lookup("nobody@example.com") is None


def test_sqlite_quotes_the_key(tmp_path, db):
    t = open_table(cf(tmp_path, db, "query = SELECT goto FROM aliases WHERE address='%s'\n"))
    assert t.lookup("o'brien@example.com") == "ob@example.com"
    assert t.lookup("x' OR '1'='1") is None


def test_sqlite_domain_expansion_makes_pattern_table_and_suppresses(tmp_path, db):
    t = open_table(cf(tmp_path, db, "query = SELECT name FROM domains WHERE name='%d'\n"
                                    "result_format = OK %s for %U/%u\n"))
    assert not t.fixed
    assert t.lookup("joe@example.com") == "OK example.com for joe/example.com"
    assert t.lookup("example.com") is None  # no domain part: no query


def test_sqlite_label_expansion_and_domain_filter(tmp_path, db):
    t = open_table(cf(tmp_path, db, "query = SELECT '%2.%1' \ndomain = example.com\n"))
    assert t.lookup("a@mail.example.com") is None  # domain not listed
    assert t.lookup("a@example.com") == "example.com"
    assert t.lookup("example.com") is None


def test_sqlite_expansion_limit(tmp_path, db):
    t = open_table(cf(tmp_path, db, "query = SELECT goto FROM aliases WHERE address='%s'\n"
                                    "expansion_limit = 1\n"))
    with pytest.raises(TableError, match="expansion limit"):
        t.lookup("team@example.com")


def test_sqlite_bad_query_fails_the_lookup(tmp_path, db):
    t = open_table(cf(tmp_path, db, "query = SELECT goto FROM nosuchtable WHERE a='%s'\n"))
    with pytest.raises(TableError, match="no such table"):
        t.lookup("x")


def test_sqlite_missing_database_fails_open(tmp_path):
    with pytest.raises(TableError, match="No such file"):
        open_table(cf(tmp_path, tmp_path / "none.sqlite", "query = SELECT 1\n"))


def test_sqlite_bad_expansion_fails_open(tmp_path, db):
    with pytest.raises(TableError, match='invalid expansion "%x"'):
        open_table(cf(tmp_path, db, "query = SELECT '%x'\n"))


def test_unionmap_joins_every_result():
    t = open_table("unionmap:{inline:{k1=a}, inline:{k1=b}, static:c}")
    assert t.lookup("k1") == "a,b,c"
    assert open_table("unionmap:{inline:{k1=a}}").lookup("zz") is None


def test_pipemap_feeds_each_result_to_the_next():
    t = open_table("pipemap:{inline:{k1=a}, inline:{a=b}}")
    assert t.lookup("k1") == "b"
    assert t.lookup("k2") is None


def test_proxy_opens_the_inner_table():
    t = open_table("proxy:inline:{a=1}")
    assert t.spec == "proxy:inline:{a=1}"
    assert t.lookup("A") == "1"
