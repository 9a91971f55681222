import fcntl
import os
import re
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affix.queue import qfile
from affix.queue.envelope import Envelope, Recipient
from affix.queue.ids import is_queue_id, long_id, make_id, short_id
from affix.queue.store import QueueStore


def _store(tmp_path, long_ids=False):
    s = QueueStore(str(tmp_path / "q"), long_ids)
    s.ensure_dirs()
    return s


def _env():
    return Envelope("s@example.org", [Recipient("a@example.test"), Recipient("b@example.test")],
                    arrival=1721700040.5, client_name="c.example.org", client_addr="192.0.2.7")


def test_short_queue_id_is_microseconds_then_inode_in_hex():
    assert short_id(0x56FE4, 0x2EB09) == "56FE42EB09"
    assert make_id(1721700040.000001, 255, False) == "00001FF"


def test_long_queue_id_has_base52_time_and_z_separator():
    qid = long_id(1721700040, 123456, 987654)
    b51 = "[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]"
    b52 = "[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]"
    assert re.fullmatch(f"{b52}{{10}}z{b51}+", qid)
    assert is_queue_id(long_id(1721700040, 999999, 5))  # a `z` among the time digits
    assert is_queue_id(qid)


def test_created_file_is_named_by_its_inode(tmp_path):
    store = _store(tmp_path)
    qf = store.create()
    inode = os.fstat(qf.fd).st_ino
    assert qf.queue_id.endswith(f"{inode:X}")
    assert len(qf.queue_id) == 5 + len(f"{inode:X}")
    store.abandon(qf)


def test_long_ids_when_enabled(tmp_path):
    store = _store(tmp_path, long_ids=True)
    qf = store.create()
    assert "z" in qf.queue_id and is_queue_id(qf.queue_id)
    store.abandon(qf)


def test_commit_marks_file_complete_and_recover_keeps_it(tmp_path):
    store = _store(tmp_path)
    qf = store.create()
    store.write(qf, qfile.encode(_env(), b"Subject: x\n\nbody\n"))
    store.commit(qf)
    assert stat.S_IMODE(os.stat(qf.path).st_mode) == 0o700
    assert store.recover() == []
    assert list(store.iterate("incoming")) == [qf.queue_id]
    assert store.read("incoming", qf.queue_id).content == b"Subject: x\n\nbody\n"


def test_file_without_completion_mark_is_discarded_at_start(tmp_path):
    store = _store(tmp_path)
    qf = store.create()
    store.write(qf, qfile.encode(_env(), b"body\n"))
    os.close(qf.fd)  # the writer died before commit: no mark, lock released
    assert list(store.iterate("incoming")) == []  # the qmgr never sees it
    assert store.recover() == [qf.queue_id]
    assert not os.path.exists(qf.path)


def test_file_of_a_live_writer_is_not_discarded(tmp_path):
    store = _store(tmp_path)
    qf = store.create()  # holds its flock, as a cleanup in another process would
    other = QueueStore(store.root)
    assert other.recover() == []
    assert os.path.exists(qf.path)
    store.abandon(qf)


def test_recipient_completion_is_recorded_in_place(tmp_path):
    store = _store(tmp_path)
    qf = store.create()
    store.write(qf, qfile.encode(_env(), b"body\n"))
    store.commit(qf)
    msg = store.read("incoming", qf.queue_id)
    store.mark("incoming", msg, 1, qfile.DELIVERED)
    again = store.read("incoming", qf.queue_id)
    assert again.pending() == [0]
    assert again.envelope.recipients[1].done


def test_torn_file_is_detected(tmp_path):
    store = _store(tmp_path)
    qf = store.create()
    data = qfile.encode(_env(), b"body line\n")
    store.write(qf, data[:-5])
    store.commit(qf)
    with pytest.raises(qfile.QueueFileError):
        store.read("incoming", qf.queue_id)


def test_deferred_queue_is_hashed_by_first_character(tmp_path):
    store = _store(tmp_path)
    qf = store.create()
    store.write(qf, qfile.encode(_env(), b"x\n"))
    store.commit(qf)
    store.move(qf.queue_id, "incoming", "deferred", mtime=12345.0)
    path = tmp_path / "q" / "deferred" / qf.queue_id[0] / qf.queue_id
    assert path.exists()
    assert store.next_attempt("deferred", qf.queue_id) == 12345.0
    assert list(store.iterate("deferred")) == [qf.queue_id]


def test_writer_holds_exclusive_lock_until_commit(tmp_path):
    store = _store(tmp_path)
    qf = store.create()
    fd = os.open(qf.path, os.O_RDONLY)
    with pytest.raises(BlockingIOError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    store.write(qf, qfile.encode(_env(), b"x\n"))
    store.commit(qf)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(sender=_text, rcpts=st.lists(st.tuples(_text, _text, _text), max_size=4),
       helo=_text, content=st.binary(max_size=200))
def test_queue_file_round_trip(sender, rcpts, helo, content):
    env = Envelope(sender, [Recipient(a, o, False, n) for a, o, n in rcpts], arrival=12.25,
                   helo=helo)
    msg = qfile.decode("X", qfile.encode(env, content))
    assert msg.envelope.sender == sender
    assert [(r.address, r.original, r.notify) for r in msg.envelope.recipients] == rcpts
    assert msg.envelope.helo == helo
    assert msg.content == content
    assert msg.envelope.arrival == 12.25
