"""The core table API: open_table, fixed-key folding, TableCache reuse and reopen."""

from __future__ import annotations

import pytest

from affix.tables import TableCache, TableError, open_table
from affix.tables.compile import Options, compile_source


def test_inline_keys_fold_and_braces_allow_spaces():
    t = open_table("inline:{ k1=v1, { K2 = value with spaces } }")
    assert t.fixed
    assert t.lookup("K1") == "v1"
    assert t.lookup("k2") == "value with spaces"
    assert t.lookup("k3") is None


def test_inline_without_equals_is_an_error():
    with pytest.raises(TableError, match="missing '='"):
        open_table("inline:{x}")


def test_inline_empty_value_is_a_configuration_error():
    t = open_table("inline:{x=}")
    with pytest.raises(TableError, match="empty string result"):
        t.lookup("x")


def test_static_returns_value_for_every_key():
    assert open_table("static:{ text with spaces }").lookup("anything") == "text with spaces"
    assert open_table("static:abc").lookup("x") == "abc"


def test_unknown_type_and_missing_type_raise():
    with pytest.raises(TableError, match="unsupported dictionary type: foo"):
        open_table("foo:bar")
    with pytest.raises(TableError, match="type:name"):
        open_table("/etc/postfix/x")


def test_texthash_reads_source_and_folds(tmp_path):
    src = tmp_path / "t"
    src.write_text("Key1 value one\nkey2 V2\n")
    t = open_table(f"texthash:{src}")
    assert t.lookup("KEY1") == "value one"
    assert t.lookup("key2") == "V2"


def test_hash_compiled_table_lookup(tmp_path):
    src = tmp_path / "reject_client"
    src.write_text("192.168.0.100 REJECT\n192.168.10 REJECT\n")
    assert compile_source(str(src), Options(), []) == 2
    t = open_table(f"hash:{src}")
    assert t.lookup("192.168.10") == "REJECT"
    assert t.lookup("192.168.0.1") is None
    assert not t.changed()


def test_missing_index_names_the_fix(tmp_path):
    src = tmp_path / "x"
    src.write_text("a b\n")
    (tmp_path / "x.db").write_bytes(b"\0" * 12288)
    with pytest.raises(TableError, match='Berkeley DB.*affix map hash:'):
        open_table(f"hash:{src}")


def test_cache_reuses_and_reopens_after_recompile(tmp_path):
    src = tmp_path / "t"
    src.write_text("a 1\n")
    compile_source(str(src), Options(), [])
    cache = TableCache(None)
    first = cache.get(f"hash:{src}")
    assert cache.get(f"hash:{src}") is first
    src.write_text("a 2\n")
    compile_source(str(src), Options(), [])
    assert first.changed()
    assert cache.get(f"hash:{src}") is first  # files are looked at once a second...
    cache.recheck()  # ...or when smtpd starts a session
    assert cache.get(f"hash:{src}").lookup("a") == "2"


def test_cache_unavailable_table_fails_lookups_then_recovers(tmp_path):
    src = tmp_path / "t"
    cache = TableCache(None)
    with pytest.raises(TableError, match="is unavailable"):
        cache.get(f"hash:{src}").lookup("a")
    src.write_text("a 1\n")
    compile_source(str(src), Options(), [])
    assert cache.get(f"hash:{src}").lookup("a") == "1"


def test_maplist_first_hit_wins():
    cache = TableCache(None)
    maps = cache.maps("inline:{a=1}, inline:{a=2, b=3}")
    assert maps.lookup("a") == "1"
    assert maps.lookup("b") == "3"
    assert maps.lookup("c") is None


def test_empty_and_overlong_keys(tmp_path):
    src = tmp_path / "t"
    src.write_text(f"{'k' * 600} long\nok 1\n")
    problems: list = []
    assert compile_source(str(src), Options(), problems) == 1
    assert str(problems[0]) == f"{src}, line 1: key is longer than 511 bytes: skipping this entry"
    t = open_table(f"hash:{src}")
    assert t.lookup("") is None
    assert t.lookup("k" * 600) is None
    assert t.lookup("OK") == "1"


def test_undecodable_bytes_survive_compile_and_lookup(tmp_path):
    src = tmp_path / "t"
    src.write_bytes(b"caf\xe9 latin1\nna\xc3\xafve utf8\n")
    compile_source(str(src), Options(), [])
    t = open_table(f"hash:{src}")
    assert t.lookup("caf\udce9") == "latin1"
    assert t.lookup("NA\u00cfVE") == "utf8"


def test_postfix_style_nul_terminated_lmdb_is_readable(tmp_path):
    import lmdb

    env = lmdb.open(str(tmp_path / "pf.lmdb"), subdir=False, lock=False)
    with env.begin(write=True) as txn:
        txn.put(b"example.com\0", b"REJECT\0")
    env.close()
    t = open_table(f"lmdb:{tmp_path / 'pf'}")
    assert t.lookup("EXAMPLE.com") == "REJECT"
    assert t.items() == [("example.com", "REJECT")]


def test_cache_retries_a_composite_table_when_a_member_file_appears(tmp_path):
    src = tmp_path / "t"
    spec = f"unionmap:{{inline:{{a=x}}, hash:{src}}}"
    cache = TableCache(None)
    with pytest.raises(TableError):
        cache.get(spec).lookup("a")
    src.write_text("a y\n")
    compile_source(str(src), Options(), [])
    assert cache.get(spec).lookup("a") == "x,y"


def test_two_caches_share_one_open_index(tmp_path):
    # e.g. the old and the new config snapshot during a reload
    src = tmp_path / "t"
    src.write_text("a 1\n")
    compile_source(str(src), Options(), [])
    old, new = TableCache(None), TableCache(None)
    assert old.get(f"hash:{src}").lookup("a") == "1"
    assert new.get(f"hash:{src}").lookup("a") == "1"
    old.close()
    assert new.get(f"hash:{src}").lookup("a") == "1"
