"""`affix map` through real subprocesses, and the memo's tables end to end."""

from __future__ import annotations

import os
import stat

import pytest


@pytest.fixture
def etc(tmp_path):
    """A stand-in for /etc/postfix with an empty main.cf."""
    (tmp_path / "main.cf").write_text("")
    return tmp_path


def amap(affix, etc, *args, input=None):  # noqa: A002 - mirrors subprocess.run
    return affix("-c", str(etc), "map", *args, input=input)


def test_memo_reject_client_flow(affix, etc):
    src = etc / "reject_client"
    src.write_text("192.168.0.100 REJECT\n192.168.10 REJECT\n")
    r = amap(affix, etc, str(src))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert (etc / "reject_client.lmdb").exists()
    r = amap(affix, etc, "-q", "192.168.10", f"hash:{src}")
    assert (r.returncode, r.stdout) == (0, "REJECT\n")
    r = amap(affix, etc, "-q", "192.168.0.1", str(src))
    assert (r.returncode, r.stdout) == (1, "")


def test_memo_reject_sender_and_ok_ips(affix, etc):
    (etc / "reject_sender").write_text("spam@spam.com REJECT\nspam.org REJECT\n")
    (etc / "ok-ips").write_text("192.0.2.30 OK\n")
    assert amap(affix, etc, str(etc / "reject_sender"), str(etc / "ok-ips")).returncode == 0
    r = amap(affix, etc, "-q", "SPAM@spam.com", f"hash:{etc / 'reject_sender'}")
    assert r.stdout == "REJECT\n"
    r = amap(affix, etc, "-q", "spam.org", f"hash:{etc / 'reject_sender'}")
    assert r.stdout == "REJECT\n"
    r = amap(affix, etc, "-q", "192.0.2.30", f"hash:{etc / 'ok-ips'}")
    assert r.stdout == "OK\n"


def test_header_checks_regexp_query(affix, etc):
    (etc / "header_checks").write_text("/^Received:/ IGNORE\n")
    r = amap(affix, etc, "-q", "Received: from x", f"regexp:{etc / 'header_checks'}")
    assert (r.returncode, r.stdout) == (0, "IGNORE\n")
    r = amap(affix, etc, "-q", "Subject: x", f"regexp:{etc / 'header_checks'}")
    assert r.returncode == 1


def test_query_from_stdin_prints_key_tab_value(affix, etc):
    src = etc / "t"
    src.write_text("a 1\nb 2\n")
    amap(affix, etc, str(src))
    r = amap(affix, etc, "-q", "-", str(src), input="a\nzz\nB\n")
    assert (r.returncode, r.stdout) == (0, "a\t1\nB\t2\n")
    r = amap(affix, etc, "-q", "-", str(src), input="zz\n")
    assert r.returncode == 1


def test_dump_delete_and_incremental_add(affix, etc):
    src = etc / "t"
    src.write_text("b 2\na 1\n")
    amap(affix, etc, str(src))
    assert amap(affix, etc, "-s", str(src)).stdout == "a\t1\nb\t2\n"
    assert amap(affix, etc, "-d", "A", str(src)).returncode == 0
    assert amap(affix, etc, "-d", "a", str(src)).returncode == 1
    r = amap(affix, etc, "-i", str(src), input="C 3\nb 9\n")
    assert r.stderr == 'affix/map: warning: stdin, line 2: duplicate entry: "b"\n'
    assert amap(affix, etc, "-s", str(src)).stdout == "b\t2\nc\t3\n"
    assert amap(affix, etc, "-d", "-", str(src), input="b\nc\n").returncode == 0
    assert amap(affix, etc, "-s", str(src)).stdout == ""


def test_no_fold_and_duplicate_options(affix, etc):
    src = etc / "t"
    src.write_text("A 1\na 2\na 3\n")
    r = amap(affix, etc, "-f", str(src))
    assert r.stderr == f'affix/map: warning: {src}, line 3: duplicate entry: "a"\n'
    assert amap(affix, etc, "-f", "-q", "A", str(src)).stdout == "1\n"
    assert amap(affix, etc, "-q", "A", str(src)).stdout == "2\n"  # the query folds
    r = amap(affix, etc, "-r", str(src))
    assert (r.stderr, amap(affix, etc, "-s", str(src)).stdout) == ("", "a\t3\n")
    r = amap(affix, etc, "-w", "-N", str(src))
    assert (r.stderr, amap(affix, etc, "-s", str(src)).stdout) == ("", "a\t1\n")


def test_malformed_lines_are_warned_with_positions(affix, etc):
    src = etc / "t"
    src.write_text("ok 1\nnovalue\nalias: x\n\"unbal x\n")
    r = amap(affix, etc, str(src))
    assert r.returncode == 0
    assert r.stderr.splitlines() == [
        f"affix/map: warning: {src}, line 2: expected format: key whitespace value",
        f'affix/map: warning: {src}, line 3: record is in "key: value" format; '
        "is this an alias file?",
        f"affix/map: warning: {src}, line 4: unbalanced '\"' in '\"unbal x' -- "
        "ignoring this line",
    ]


def test_regexp_problems_are_warned_on_query(affix, etc):
    (etc / "re").write_text("/a/ A\n/b/q B\n")
    r = amap(affix, etc, "-q", "a", f"regexp:{etc / 're'}")
    assert r.stdout == "A\n"
    assert r.stderr == (f"affix/map: warning: regexp map {etc / 're'}, line 2: "
                        'unknown regexp option "q": skipping this rule\n')


def test_fatal_errors(affix, etc):
    r = amap(affix, etc, str(etc / "missing"))
    assert r.returncode == 1
    assert r.stderr == f"affix/map: fatal: open {etc / 'missing'}: No such file or directory\n"
    r = amap(affix, etc, f"texthash:{etc / 'x'}")
    assert r.stderr == ("affix/map: fatal: unsupported dictionary type: texthash does not "
                        "support bulk-mode creation.\n")
    r = amap(affix, etc, "-q", "k", f"hash:{etc / 'missing'}")
    assert r.returncode == 1 and "open database" in r.stderr and "fatal" in r.stderr


def test_postfix_db_file_gets_a_hint(affix, etc):
    (etc / "access").write_text("a OK\n")
    (etc / "access.db").write_bytes(b"\0" * 12288)
    r = amap(affix, etc, "-q", "a", f"hash:{etc / 'access'}")
    assert r.returncode == 1
    assert f'run "affix map hash:{etc / "access"}"' in r.stderr


def test_index_gets_group_other_read_bits_of_source(affix, etc):
    src = etc / "secret"
    src.write_text("a 1\n")
    os.chmod(src, 0o600)
    amap(affix, etc, str(src))
    assert stat.S_IMODE(os.stat(etc / "secret.lmdb").st_mode) == 0o600
    src2 = etc / "public"
    src2.write_text("a 1\n")
    os.chmod(src2, 0o640)
    amap(affix, etc, str(src2))
    assert stat.S_IMODE(os.stat(etc / "public.lmdb").st_mode) == 0o640


def test_default_database_type_from_main_cf(affix, etc):
    (etc / "main.cf").write_text("default_database_type = lmdb\n")
    (etc / "t").write_text("a 1\n")
    assert amap(affix, etc, str(etc / "t")).returncode == 0
    assert amap(affix, etc, "-q", "a", f"lmdb:{etc / 't'}").stdout == "1\n"


def test_failed_compile_leaves_old_table(affix, etc):
    src = etc / "t"
    src.write_text("a 1\n")
    amap(affix, etc, str(src))
    src.unlink()
    assert amap(affix, etc, str(src)).returncode == 1
    assert amap(affix, etc, "-q", "a", str(src)).stdout == "1\n"
    assert [p.name for p in etc.iterdir() if p.name.endswith(".tmp")] == []
