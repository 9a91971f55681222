import fcntl
import os
import re
import stat
import subprocess
import time
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affix.queue import qfile
from affix.queue import store as store_module
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
    store.write(qf, qfile.encode(qf.queue_id, _env(), b"Subject: x\n\nbody\n"))
    store.commit(qf)
    assert stat.S_IMODE(os.stat(qf.path).st_mode) == 0o700
    assert store.recover() == []
    assert list(store.iterate("incoming")) == [qf.queue_id]
    assert store.read("incoming", qf.queue_id).content == b"Subject: x\n\nbody\n"


def test_file_without_completion_mark_is_discarded_at_start(tmp_path):
    store = _store(tmp_path)
    qf = store.create()
    store.write(qf, qfile.encode(qf.queue_id, _env(), b"body\n"))
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
    store.write(qf, qfile.encode(qf.queue_id, _env(), b"body\n"))
    store.commit(qf)
    msg = store.read("incoming", qf.queue_id)
    store.mark("incoming", msg, 1, qfile.DELIVERED)
    again = store.read("incoming", qf.queue_id)
    assert again.pending() == [0]
    assert again.envelope.recipients[1].done


def test_torn_file_is_detected(tmp_path):
    store = _store(tmp_path)
    qf = store.create()
    data = qfile.encode(qf.queue_id, _env(), b"body line\n")
    store.write(qf, data[:-5])
    store.commit(qf)
    with pytest.raises(qfile.QueueFileError):
        store.read("incoming", qf.queue_id)


def test_deferred_queue_is_hashed_by_first_character(tmp_path):
    store = _store(tmp_path)
    qf = store.create()
    store.write(qf, qfile.encode(qf.queue_id, _env(), b"x\n"))
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
    store.write(qf, qfile.encode(qf.queue_id, _env(), b"x\n"))
    store.commit(qf)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


def _queued(store, content=b"Subject: x\n\nbody\n"):
    qf = store.create()
    store.write(qf, qfile.encode(qf.queue_id, _env(), content))
    store.commit(qf)
    return qf.queue_id


def _inode_of(store, queue, qid):
    return os.stat(store.path(queue, qid)).st_ino


def test_delivered_file_becomes_a_spare_and_the_next_message_reuses_it(tmp_path):
    store = _store(tmp_path)
    old = _queued(store, b"Subject: old\n\n" + b"old text\n" * 50)
    inode = _inode_of(store, "incoming", old)
    assert store.delete("incoming", old, durable=False, size=500)
    assert list(store.iterate("incoming")) == []
    assert os.listdir(tmp_path / "q" / "spare") == [old]

    new = store.create()
    assert os.fstat(new.fd).st_ino == inode and new.queue_id.endswith(f"{inode:X}")
    # not a message before its own commit: the old completion mark is gone
    assert stat.S_IMODE(os.fstat(new.fd).st_mode) == 0o600
    assert list(store.iterate("incoming")) == [] and os.listdir(tmp_path / "q" / "spare") == []
    data = qfile.encode(new.queue_id, _env(), b"Subject: new\n\nshort\n")
    store.write(new, data)
    store.commit(new)
    assert os.path.getsize(new.path) == len(data)  # nothing of the old message is left
    assert store.read("incoming", new.queue_id).content == b"Subject: new\n\nshort\n"


def test_an_abandoned_spare_is_removed_at_start(tmp_path):
    store = _store(tmp_path)
    qid = _queued(store)
    store.delete("incoming", qid, durable=False, size=100)
    qf = store.create()  # the spare, under its new id
    os.close(qf.fd)  # the writer died before writing
    assert list(store.iterate("incoming")) == []
    assert store.recover() == [qf.queue_id]


def test_removal_is_a_plain_unlink_for_large_files_durable_removals_and_a_full_pool(
        tmp_path, monkeypatch):
    from affix.queue import store as store_module

    store = _store(tmp_path)
    spare = tmp_path / "q" / "spare"
    big = _queued(store)
    store.delete("incoming", big, durable=False, size=store_module.SPARE_SIZE_MAX + 1)
    durable = _queued(store)
    store.delete("incoming", durable, size=10)
    unsized = _queued(store)
    store.delete("incoming", unsized, durable=False)
    assert os.listdir(spare) == []

    monkeypatch.setattr(store_module, "SPARE_MAX", 3)
    ids = [_queued(store) for _ in range(5)]
    for qid in ids:
        store.delete("incoming", qid, durable=False, size=10)
    assert sorted(os.listdir(spare)) == sorted(ids[:3])
    assert not any((tmp_path / "q" / "incoming" / qid).exists() for qid in ids)


def test_two_writers_never_claim_the_same_spare(tmp_path):
    a = _store(tmp_path)
    b = QueueStore(a.root)  # another worker process's view of the same queue
    for _ in range(4):
        a.delete("incoming", _queued(a), durable=False, size=10)
    spares = {int(os.stat(e.path).st_ino) for e in os.scandir(tmp_path / "q" / "spare")}
    files = [s.create() for s in (a, b, a, b, a, b)]  # both listed all four names
    inodes = [os.fstat(f.fd).st_ino for f in files]
    assert len(set(inodes)) == 6
    assert spares <= set(inodes)
    for f in files:
        a.abandon(f)


def test_a_claimed_spare_never_shows_its_old_message_under_the_new_id(tmp_path):
    # a crash may keep a commit's link and completion mark but lose the content it wrote:
    # that file must read as torn, not as the delivered message the spare held
    store = _store(tmp_path)
    old = _queued(store, b"Subject: old\n\n" + b"old text\n" * 50)
    store.delete("incoming", old, durable=False, size=500)
    qf = store.create()
    assert store._mark(qf) is None  # marked, as if the crash came before the content
    assert list(store.iterate("incoming")) == [qf.queue_id]
    with pytest.raises(qfile.QueueFileError):
        store.read("incoming", qf.queue_id)


def _v1_image(env, content):
    """A queue file as format 1 wrote it (no id; the CRC over the content only)."""
    r = env.recipients[0]
    return (qfile.MAGIC_V1 + b"F --------\nT 1721700040.500000\nS " + env.sender.encode()
            + b"\nR - " + r.address.encode() + b"\t\t\nC " + str(len(content)).encode() + b"\n"
            + content + f"Z {len(content)} {zlib.crc32(content):08x}\n".encode())


def test_a_reused_spare_is_written_over_not_emptied(tmp_path, monkeypatch):
    # emptying frees every block of the file, and writing allocates them again
    store = _store(tmp_path)
    old = _queued(store, b"Subject: old\n\n" + b"old text\n" * 500)
    store.delete("incoming", old, durable=False, size=5000)
    cuts = []
    real = os.ftruncate
    monkeypatch.setattr(os, "ftruncate", lambda fd, n: (cuts.append(n), real(fd, n))[1])
    qf = store.create()
    assert cuts == [] and qf.size > 4500
    data = qfile.encode(qf.queue_id, _env(), b"Subject: new\n\nshort\n")
    store.write(qf, data)
    store.commit(qf)
    assert cuts == [len(data)]  # only the old tail goes
    assert store.read("incoming", qf.queue_id).content == b"Subject: new\n\nshort\n"


def test_any_mix_of_old_and_new_pages_of_a_reused_file_reads_as_torn():
    # a crash after the new name and mark reached the disk, but only some of the new pages:
    # every mix of the two messages' bytes, cut at any sector, is refused
    env = _env()
    old = qfile.encode("4A1B2C3D4E", env, b"Subject: old\n\n" + b"old text\n" * 1500)
    other = Envelope("t@example.org", [Recipient("c@example.test")], arrival=1721700041.5)
    new = qfile.encode("5B2C3D4E5F", other, b"Subject: new\n\n" + b"new text\n" * 1400)
    for n in (len(new), len(old)):  # with and without the old tail cut
        for cut in range(0, max(len(new), len(old)), 512):
            for image in (new[:cut] + old[cut:n], old[:cut] + new[cut:n]):
                image = image[:n]
                if image == new[:n] == new:
                    continue
                with pytest.raises(qfile.QueueFileError):
                    qfile.decode("5B2C3D4E5F", image)
    assert qfile.decode("5B2C3D4E5F", new).envelope.sender == "t@example.org"


def test_a_spare_of_the_older_format_is_not_reused(tmp_path):
    # format 1 has neither the id nor the envelope's CRC: its old bytes would read as valid
    store = _store(tmp_path)
    path = tmp_path / "q" / "spare" / "4A1B2C3D4E"
    path.write_bytes(_v1_image(_env(), b"Subject: old\n\nold text\n"))
    held = os.open(path, os.O_RDONLY)  # keeps its inode number from a new file
    qf = store.create()
    assert os.fstat(qf.fd).st_ino != os.fstat(held).st_ino and qf.size == 0
    assert os.fstat(held).st_nlink == 0 and os.listdir(tmp_path / "q" / "spare") == []
    os.close(held)
    store.abandon(qf)


def _list_env(n):
    # a mailing list: the same sender, client and recipients for every post
    return Envelope("list-bounces@example.org",
                    [Recipient(f"member{i:04d}@example.test") for i in range(n)],
                    arrival=1721700040.5, client_name="lists.example.org",
                    client_addr="192.0.2.7")


def _delivered_spare(store, env, content):
    qf = store.create()
    store.write(qf, qfile.encode(qf.queue_id, env, content))
    store.commit(qf)
    msg = store.read("incoming", qf.queue_id)
    store.move(qf.queue_id, "incoming", "active", durable=False)
    store.mark_many("active", msg, {i: qfile.DELIVERED for i in msg.pending()}, durable=False)
    store.delete("active", qf.queue_id, durable=False, size=msg.size)
    return qf.queue_id


def test_every_mark_shares_a_sector_with_the_queue_id():
    # the marks are outside the CRC: an old sector of recipient lines that equals the new one
    # but for its marks must still be refused, by the id it carries (or lacks)
    for n in (1, 9, 10, 11, 40, 400):
        for sender in ("s@example.org", "x" * 300 + "@example.org"):
            env = Envelope(sender, [Recipient(f"member{i:04d}@example.test") for i in range(n)])
            data = qfile.encode("4A1B2C3D4E", env, b"Subject: x\n\nbody\n")
            msg = qfile.decode("4A1B2C3D4E", data)
            assert [r.address for r in msg.envelope.recipients] == [r.address
                                                                    for r in env.recipients]
            for offset in msg.status_offsets:
                sector = data[offset - offset % 512:offset]
                assert b"I 4A1B2C3D4E\n" in sector or (offset < 512 and b"\nI 4A1B2C3D4E\n"
                                                        in data[:512])


def test_an_old_sector_of_marks_under_a_new_id_reads_as_torn(tmp_path):
    # a mailing list: two posts with the same recipients, the first delivered (marks `D`);
    # its file is reused for the second. A crash loses one new sector of recipient lines.
    store = _store(tmp_path)
    old_id = _delivered_spare(store, _list_env(400), b"Subject: post 1\n\nfirst post\n")
    old_image = (tmp_path / "q" / "spare" / old_id).read_bytes()
    qf = store.create()
    assert qf.size == len(old_image)  # reused
    new_image = qfile.encode(qf.queue_id, _list_env(400), b"Subject: post 2\n\nsecond post\n")
    store.write(qf, new_image)
    store.commit(qf)
    assert store.read("incoming", qf.queue_id).pending() == list(range(400))
    for lost in range(0, len(new_image), 512):
        mix = new_image[:lost] + old_image[lost:lost + 512] + new_image[lost + 512:]
        if mix != new_image:
            with pytest.raises(qfile.QueueFileError):
                qfile.decode(qf.queue_id, mix)
    # a file whose later marks have no id beside them is refused, whatever its CRC says
    with pytest.raises(qfile.QueueFileError, match="a mark without its id"):
        qfile.decode(qf.queue_id, _without_repeated_ids(qf.queue_id, new_image))


def _without_repeated_ids(queue_id, data):
    """DATA with every `I` and `P` record but the first removed, and its CRC made right."""
    first = data.index(b"\nI ") + 1
    head_end = data.index(b"\nC ") + 1
    lines = data[first:head_end].splitlines(keepends=True)
    header = data[:first] + lines[0] + b"".join(
        line for line in lines[1:] if not line.startswith((b"I ", b"P")))
    header += data[head_end:data.index(b"\n", head_end) + 1]
    offsets, pos = [], 0
    for line in header.splitlines(keepends=True):
        if line.startswith(b"R "):
            offsets.append(pos + 2)
        pos += len(line)
    content = qfile.decode(queue_id, data).content
    crc = zlib.crc32(content, qfile._stable_crc(header, len(header), offsets))
    return header + content + f"Z {len(content)} {crc:08x}\n".encode()


def test_a_reused_spare_never_gets_the_id_of_the_message_it_held(tmp_path, monkeypatch):
    # short ids are microseconds (mod 2**20) and inode: a spare keeps its inode, so its old
    # id may come round, and its old bytes would then read as the new message
    store = _store(tmp_path)
    old_id = _delivered_spare(store, _list_env(1), b"Subject: old\n\nold\n")
    seconds = int(old_id[:5], 16) / 1e6
    clock = iter(range(10**6))
    monkeypatch.setattr(store_module.time, "time", lambda: 1721700040 + seconds
                        + next(clock) * 1e-6)
    qf = store.create()
    monkeypatch.undo()
    assert qf.queue_id != old_id and qf.size > 0  # the spare, under another id
    store.abandon(qf)


def test_a_number_cut_by_a_torn_write_reads_as_torn():
    # an old sector spliced into the "C <length>" line: a QueueFileError, which the queue
    # manager moves to corrupt (a ValueError escaped it, and mailq)
    data = qfile.encode("4A1B2C3D4E", _env(), b"Subject: x\n\n" + b"text\n" * 100)
    start = data.index(b"\nC ") + 3
    for image in (data[:start + 1] + b"t" + data[start + 2:],
                  data.replace(b"\nT 1721700040", b"\nT 17217x0040")):
        with pytest.raises(qfile.QueueFileError):
            qfile.decode("4A1B2C3D4E", image)


def test_a_file_of_the_older_format_is_still_read(tmp_path):
    store = _store(tmp_path)
    content = b"Subject: queued before an upgrade\n\nbody\n"
    path = tmp_path / "q" / "active" / "4A1B2C3D4E"
    path.write_bytes(_v1_image(_env(), content))
    msg = store.read("active", "4A1B2C3D4E")
    assert msg.content == content and msg.envelope.recipients[0].address == "a@example.test"
    store.mark("active", msg, 0, qfile.DELIVERED)
    assert store.read("active", "4A1B2C3D4E").envelope.recipients[0].done
    path.write_bytes(_v1_image(_env(), content)[:-3] + b"00\n")
    with pytest.raises(qfile.QueueFileError):
        store.read("active", "4A1B2C3D4E")


def test_status_bytes_and_flags_rewritten_in_place_keep_the_file_whole(tmp_path):
    store = _store(tmp_path)
    qid = _queued(store)
    msg = store.read("incoming", qid)
    store.mark("incoming", msg, 1, qfile.BOUNCED)
    store.set_flag("incoming", msg, qfile.FLAG_WARNED, "W")
    again = store.read("incoming", qid)
    assert again.warned and again.statuses == [qfile.PENDING, qfile.BOUNCED]


def test_a_spare_that_is_named_elsewhere_too_is_dropped_not_reused(tmp_path):
    # after a crash without ordered directory updates, spare/ and a queue may name one inode
    store = _store(tmp_path)
    live = _queued(store, b"Subject: live\n\nkeep me\n")
    os.link(store.path("incoming", live), tmp_path / "q" / "spare" / "4A1B2C3D4E")
    other = QueueStore(store.root)
    qf = other.create()
    other.write(qf, qfile.encode(qf.queue_id, _env(), b"Subject: other\n\n"))
    other.commit(qf)
    assert store.read("incoming", live).content == b"Subject: live\n\nkeep me\n"
    assert os.listdir(tmp_path / "q" / "spare") == []


def test_a_spare_whose_queue_manager_still_holds_it_is_dropped_not_waited_for(tmp_path):
    # a queue manager renames a delivered file into spare/ and closes its claim just after;
    # a writer of this very process in between must not wait for a lock it would never get
    store = _store(tmp_path)
    old = _queued(store, b"Subject: old\n\n")
    claim = store.claim("incoming", old)
    assert claim is not None
    fd, _ = claim
    try:
        inode = os.fstat(fd).st_ino
        assert store.delete("incoming", old, durable=False, size=100)
        qf = store.create()
        assert os.fstat(qf.fd).st_ino != inode
        assert os.listdir(tmp_path / "q" / "spare") == []
        store.abandon(qf)
    finally:
        os.close(fd)


def test_a_claim_is_refused_while_another_holds_the_file(tmp_path):
    store = _store(tmp_path)
    qid = _queued(store, b"Subject: one\n\n")
    first = store.claim("incoming", qid)
    assert first is not None
    assert store.claim("incoming", qid) is None
    os.close(first[0])
    second = store.claim("incoming", qid)
    assert second is not None and second[1].content == b"Subject: one\n\n"
    os.close(second[0])


def test_a_symlink_in_spare_is_never_written_through(tmp_path):
    store = _store(tmp_path)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    os.symlink(victim, tmp_path / "q" / "spare" / "4A1B2C3D4E")
    qf = store.create()
    store.write(qf, qfile.encode(qf.queue_id, _env(), b"x\n"))
    store.commit(qf)
    assert victim.read_bytes() == b"precious\n"
    assert not os.path.islink(qf.path)


def test_a_missing_incoming_directory_is_made_again_while_spares_wait(tmp_path):
    store = _store(tmp_path)
    store.delete("incoming", _queued(store), durable=False, size=10)
    os.rmdir(tmp_path / "q" / "incoming")
    qf = store.create()  # once ran in circles over the spare it could not move
    assert os.path.isfile(qf.path)
    store.abandon(qf)


def test_recover_leaves_the_temporary_file_of_a_live_writer(tmp_path):
    # create() holds its temporary name unlocked for a moment, and a reload starts a queue
    # manager (recover()) while the sessions write: that file is not a crash's leftover
    store = _store(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    live = tmp_path / "q" / "incoming" / f".new.{os.getpid()}.1"
    dead = tmp_path / "q" / "incoming" / f".new.{gone.pid}.2"
    live.write_bytes(b"")
    dead.write_bytes(b"")
    assert store.recover() == [dead.name]
    assert live.exists() and not dead.exists()


def test_recover_removes_a_leftover_whose_pid_belongs_to_a_live_process_again(
        tmp_path, monkeypatch):
    # a crash left a claimed spare under .new.PID.TIME; after the restart (an hour later
    # here) PID is alive again, as pids repeat in containers: still a leftover, removed
    store = _store(tmp_path)
    old_id = _delivered_spare(store, _list_env(1), b"Subject: old\n\nprivate\n")
    leftover = tmp_path / "q" / "incoming" / f".new.{os.getpid()}.{time.monotonic_ns()}"
    os.rename(tmp_path / "q" / "spare" / old_id, leftover)
    real_time = time.time
    monkeypatch.setattr(store_module.time, "time", lambda: real_time() + 3600)
    assert store.recover() == [leftover.name] and not leftover.exists()


def test_spares_are_emptied_at_start(tmp_path):
    store = _store(tmp_path)
    store.delete("incoming", _queued(store), durable=False, size=10)
    assert os.listdir(tmp_path / "q" / "spare") != []
    assert QueueStore(store.root).recover() == []
    assert os.listdir(tmp_path / "q" / "spare") == []


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(sender=_text, rcpts=st.lists(st.tuples(_text, _text, _text), max_size=4),
       helo=_text, content=st.binary(max_size=200))
def test_queue_file_round_trip(sender, rcpts, helo, content):
    env = Envelope(sender, [Recipient(a, o, False, n) for a, o, n in rcpts], arrival=12.25,
                   helo=helo)
    msg = qfile.decode("X", qfile.encode("X", env, content))
    assert msg.envelope.sender == sender
    assert [(r.address, r.original, r.notify) for r in msg.envelope.recipients] == rcpts
    assert msg.envelope.helo == helo
    assert msg.content == content
    assert msg.envelope.arrival == 12.25
