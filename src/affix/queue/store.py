"""The queue store: queue files on disk, their ids, and moves between queues.

Layout under queue_directory:
  incoming/ID      new files written by cleanup (complete = mode 0700, see commit())
  active/ID        messages the queue manager is working on
  deferred/X/ID    waiting for a retry; X is the id's first character; the file's mtime is the
                   time of the next attempt (as in Postfix)
  hold/ID          held until released
  corrupt/ID       damaged files moved aside
  bounce/ID        per-message log of bounced recipients (builds the non-delivery notice)
  defer/ID         per-message log of the last deferral reason per recipient (shown by mailq)
  spare/NAME       files of delivered messages kept for reuse as new queue files (below)
  maildrop/NAME    messages from users who may not write here (mode 1733; queue/maildrop.py)
  public/pickup    the FIFO that tells the server's pickup to look at maildrop/

Crash safety ("250 means on disk", design.md): a writer creates the file under a temporary
name, holds an exclusive flock on it, renames it to its id, writes the whole file (format in
qfile.py), then commit() sets mode 0700 (the completion mark), fsyncs the file (data and mark
together) and fsyncs the directory (the name is durable). Only then may the caller say 250.
Setting the mark before the one fsync is safe because the file's trailer carries a CRC of the
file: a crash can leave a marked file whose data never reached the disk, but such a file is torn
(never acknowledged) and the queue manager moves it to `corrupt`, as any damaged file.
commit_many() does the same for several files with one directory fsync (cleanup's group
commit). recover() at start removes incoming files without the mark (never acknowledged)
unless a live writer still holds their lock.

A recipient's completion is written in place (one status byte, pwrite + fdatasync) before the
file is removed, so a crash repeats at most the delivery that was in flight (at-least-once).
When the last recipients are done and the file is removed at once, the status bytes are still
written first but not synced: a crash that undoes the removal can then repeat those deliveries
(duplicates, as with Postfix, which syncs neither), never lose one.
Renames and removals that only the queue manager's own bookkeeping depends on are not followed
by a directory fsync (`durable=False`): incoming -> active is one atomic rename and both
queues are scanned at start, and a removed file whose removal a crash undoes has every
recipient marked done, so nothing is delivered twice.

Spare files: a delivered message's file (up to SPARE_SIZE_MAX bytes) is renamed into spare/
instead of being removed, and create() takes a spare before it makes a new file. Creating and
removing a file per message costs the file system an inode allocation and release each time;
on ext4 without a journal, allocation also skips every inode freed in the last seconds to
minutes, a scan that grew to a sixth of the whole server's CPU at a few hundred messages per
second. A spare keeps its old bytes until a writer claims it; the pool is small (SPARE_MAX),
so at most a few megabytes of delivered mail (a copy of what the mailboxes hold) wait there, in
the same root-only directory tree as the queue, and recover() empties it at start. A rename
into spare/ is exactly as durable as the removal it replaces (not synced); a crash that undoes
it leaves the file in active/, as an undone removal would. The new message is written over a
claimed spare's old bytes, and its tail cut if it is shorter: the queue id and the CRC over the
whole file (qfile.py) make a file whose new bytes a crash lost in part or in whole read as torn,
never as the old message (a spare of format 1, without them, is not reused). A spare that is
not a plain file with one name (a symlink, or an inode a crash left named elsewhere too) is
dropped, not reused.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass

from affix.ascii import is_digits
from affix.queue import qfile
from affix.queue.ids import hash_dir, is_queue_id, make_id

QUEUES = ("incoming", "active", "deferred", "hold", "corrupt")
LOG_DIRS = ("bounce", "defer", "trace")
SPARE = "spare"
SPARE_MAX = 64  # files kept for reuse
SPARE_SIZE_MAX = 256 * 1024  # larger files are removed (their blocks are not worth keeping)
WRITING_SECONDS = 60.0  # recover() leaves a live writer's temporary file this young alone
_SPARE_RELIST = 0.1  # seconds before one process lists a spare/ it found empty again
COMPLETE_MODE = 0o700
PARTIAL_MODE = 0o600


@dataclass
class QueueFile:
    """An incoming file being written (open, locked) by cleanup."""

    queue_id: str
    path: str
    fd: int
    size: int = 0  # bytes in the file now


def _read_all(fd: int) -> bytes:
    """A whole file in one read as a rule (open() would add an ioctl and seeks per file)."""
    size = os.fstat(fd).st_size
    data = os.read(fd, size + 1)  # one byte more: a file that grew shows at once
    if len(data) == size:
        return data
    chunks = [data]  # a short read, or a file that grew: read on to the end
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _being_written(entry: os.DirEntry[str]) -> bool:
    """Whether a temporary name (`.new.PID.TIME`) is a live writer's, not a crash's leftover.
    create() holds such a file unlocked for a moment (between claiming and locking it), and a
    queue manager started by a reload runs recover() while the sessions of the old
    configuration write. A pid can belong to another process after a restart: only a file
    changed in the last WRITING_SECONDS counts (create() keeps the name for microseconds)."""
    parts = entry.name.split(".")
    if len(parts) != 4 or parts[1] != "new" or not is_digits(parts[2]):
        return False
    try:
        if time.time() - entry.stat(follow_symlinks=False).st_ctime > WRITING_SECONDS:
            return False
        os.kill(int(parts[2]), 0)
    except (ProcessLookupError, FileNotFoundError):
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class QueueStore:
    def __init__(self, queue_directory: str, long_ids: bool = False):
        self.root = os.path.abspath(queue_directory)
        self.long_ids = long_ids
        # each message's paths are built several times per delivery: from these, not join()
        self._dirs = {name: os.path.join(self.root, name) for name in (*QUEUES, *LOG_DIRS, SPARE)}
        self._incoming = self._dirs["incoming"]
        self._spare = self._dirs[SPARE]
        self._spares: list[str] = []  # names listed in spare/, not yet tried
        self._spares_listed = 0.0  # when (monotonic) create() last found spare/ empty
        self._spares_kept: int | None = None  # delete()'s estimate of spare/'s size

    # --- layout --------------------------------------------------------------------------
    def ensure_dirs(self) -> None:
        for name in (*QUEUES, *LOG_DIRS, SPARE):
            os.makedirs(os.path.join(self.root, name), mode=0o700, exist_ok=True)

    def dir_of(self, queue: str, queue_id: str) -> str:
        base = self._dirs.get(queue) or os.path.join(self.root, queue)
        return f"{base}/{hash_dir(queue_id)}" if queue == "deferred" else base

    def path(self, queue: str, queue_id: str) -> str:
        return f"{self.dir_of(queue, queue_id)}/{queue_id}"

    # --- writing (cleanup) -----------------------------------------------------------------
    def create(self) -> QueueFile:
        """A new, empty, locked incoming file named by its queue id."""
        incoming = self._incoming
        temp = f"{incoming}/.new.{os.getpid()}.{time.monotonic_ns()}"  # not join(): per message
        try:
            fd, inode, size, old_id = self._claim_spare(temp)
        except FileNotFoundError:  # a new queue directory (or one removed under us)
            self.ensure_dirs()
            fd, inode, size, old_id = self._claim_spare(temp)
        try:
            while True:
                queue_id = make_id(time.time(), inode, self.long_ids)
                final = f"{incoming}/{queue_id}"
                try:
                    # a spare keeps its inode: a short id may come round to the one it had
                    # (its old bytes would then read as this message's); never clobbers
                    # another message
                    if queue_id != old_id:
                        os.link(temp, final)
                        break
                except FileExistsError:
                    pass
                time.sleep(0.0001)  # another id in the next microsecond
            os.unlink(temp)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return QueueFile(queue_id, final, fd, size)

    def _claim_spare(self, temp: str) -> tuple[int, int, int, str]:
        """(fd, inode, size, old id) of an open file under the name `temp`: a spare if one
        is left (size: the bytes it still holds; old id: the message it held, its name in
        spare/), else a new file (0, ""). The rename is the claim (of several processes taking
        spares, one gets each); the temporary name hides it from the queue manager until its
        mark is reset."""
        while True:
            name = self._next_spare()
            if name is None:
                break
            try:
                os.rename(os.path.join(self._spare, name), temp)
            except FileNotFoundError:
                if not os.path.isdir(self._incoming):
                    raise  # create() makes the directories
                continue  # another process took it
            claimed = self._reset_spare(temp)
            if claimed is not None:
                return (*claimed, name)
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PARTIAL_MODE)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd, os.fstat(fd).st_ino, 0, ""

    @staticmethod
    def _reset_spare(temp: str) -> tuple[int, int, int] | None:
        """The claimed spare, open and locked: (fd, inode, size); None (and the name removed)
        when it is not a plain file of its own (a symlink, or an inode that a crash left named
        elsewhere as well), when its old bytes could pass for a new message's (below), or
        while the queue manager that delivered it still holds its lock (for the moment between
        the rename into spare/ and its close; waiting could wait for this very process)."""
        def drop(fd: int = -1) -> None:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)

        try:
            fd = os.open(temp, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            drop()
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            drop(fd)
            return None
        st = os.fstat(fd)
        # The new message is written over the old bytes (no blocks freed and allocated
        # again). A crash may lose any of the new sectors; what is left of the old message
        # then reads as torn, thanks to format 2's id and CRC (qfile.py). A file of format 1
        # has neither: not reused.
        reusable = stat.S_ISREG(st.st_mode) and st.st_nlink == 1
        if reusable and st.st_size:
            reusable = os.pread(fd, len(qfile.MAGIC), 0) == qfile.MAGIC
        if not reusable:
            drop(fd)
            return None
        os.fchmod(fd, PARTIAL_MODE)  # it still has its old completion mark
        return fd, st.st_ino, st.st_size

    def _next_spare(self) -> str | None:
        if not self._spares:
            # while the queue manager keeps spares coming, list again as soon as the last
            # listing is used up; after an empty one, not for a while
            now = time.monotonic()
            if now - self._spares_listed < _SPARE_RELIST:
                return None
            try:
                self._spares = os.listdir(self._spare)
            except FileNotFoundError:
                self._spares = []
            if not self._spares:
                self._spares_listed = now
                return None
        # processes sharing spare/ take from different ends of the same listing
        return self._spares.pop(-(os.getpid() & 1))

    def write(self, qf: QueueFile, data: bytes) -> None:
        """The file's whole content (cut to length when it replaces a longer one)."""
        view = memoryview(data)
        offset = 0
        while offset < len(view):
            offset += os.pwrite(qf.fd, view[offset:], offset)
        if qf.size > len(data):
            os.ftruncate(qf.fd, len(data))
        qf.size = len(data)

    def commit(self, qf: QueueFile) -> None:
        """Mark a written file complete and make it durable (commit_many for one file whose
        content is written already); the caller may then reply 250. Raises OSError, and the
        file is then the caller's to abandon."""
        items = [(qf, b"")]
        error = self.finish_many(items, self.sync_many(items, [self._mark(qf)]))[0]
        if error is not None:
            raise error

    def commit_many(self, items: list[tuple[QueueFile, bytes]]) -> list[OSError | None]:
        """Write, mark and fsync each file, then fsync the incoming directory once; per item
        None (durable: it may be acknowledged) or the error that made it fail. A failed file
        is left to the caller (abandon)."""
        return self.finish_many(items, self.sync_many(items, self.write_many(items)))

    def write_many(self, items: list[tuple[QueueFile, bytes]]) -> list[OSError | None]:
        """The first half of commit_many: contents and completion marks (page cache only)."""
        errors: list[OSError | None] = []
        for qf, data in items:
            try:
                self.write(qf, data)
            except OSError as e:
                errors.append(e)
            else:
                errors.append(self._mark(qf))
        return errors

    @staticmethod
    def _mark(qf: QueueFile) -> OSError | None:
        """The completion mark, set before the fsync (the module docstring says why)."""
        try:
            os.fchmod(qf.fd, COMPLETE_MODE)
        except OSError as e:
            return e
        return None

    def sync_many(self, items: list[tuple[QueueFile, bytes]],
                  errors: list[OSError | None]) -> list[OSError | None]:
        """The waiting half: fsync each file written without error, then the directory once
        (after every link: it covers them all). Nothing but system calls, so that a thread
        running it hardly ever needs the interpreter."""
        errors = list(errors)
        for i, ((qf, _), err) in enumerate(zip(items, errors, strict=True)):
            if err is None:
                try:
                    os.fsync(qf.fd)
                except OSError as e:
                    errors[i] = e
        if any(e is None for e in errors):
            try:
                fsync_dir(self._incoming)
            except OSError as e:
                errors = [e if err is None else err for err in errors]
        return errors

    def finish_many(self, items: list[tuple[QueueFile, bytes]],
                    errors: list[OSError | None]) -> list[OSError | None]:
        """Close the files that are durable; the others stay open for abandon()."""
        errors = list(errors)
        for i, ((qf, _), err) in enumerate(zip(items, errors, strict=True)):
            if err is None:
                try:
                    os.close(qf.fd)
                except OSError as e:  # closed under us: that file's failure alone
                    errors[i] = e
                qf.fd = -1
        return errors

    def abandon(self, qf: QueueFile) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(qf.path)
        if qf.fd >= 0:
            os.close(qf.fd)
            qf.fd = -1

    # --- start-up recovery -------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Remove incoming files that were never completed (returns their names), and the
        spares (whatever a crash left there is not worth a second look)."""
        self.ensure_dirs()
        for entry in os.scandir(self._spare):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
        removed = []
        for entry in os.scandir(self._incoming):
            if (entry.is_file(follow_symlinks=False) and not self._complete(entry.path)
                    and not _being_written(entry)
                    and self._remove_if_unlocked(entry.path)):
                removed.append(entry.name)
        return removed

    def _complete(self, path: str) -> bool:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return True  # gone meanwhile: nothing to remove
        return bool(st.st_mode & stat.S_IXUSR) and not os.path.basename(path).startswith(".")

    @staticmethod
    def _remove_if_unlocked(path: str) -> bool:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False  # a live writer is still at work on it
        try:
            os.unlink(path)
        finally:
            os.close(fd)
        return True

    # --- reading and moving ------------------------------------------------------------------
    def iterate(self, queue: str) -> Iterator[str]:
        """Queue ids in a queue (incoming: only completed files)."""
        base = os.path.join(self.root, queue)
        dirs = [base]
        if queue == "deferred" and os.path.isdir(base):
            dirs = [e.path for e in os.scandir(base) if e.is_dir()]
        for d in dirs:
            try:
                entries = list(os.scandir(d))
            except FileNotFoundError:
                continue
            for e in entries:
                if not is_queue_id(e.name) or not e.is_file(follow_symlinks=False):
                    continue
                if queue == "incoming" and not self._complete(e.path):
                    continue
                yield e.name

    def find(self, queue_id: str, queues: tuple[str, ...] = QUEUES) -> str | None:
        """The queue holding a message, or None."""
        if not is_queue_id(queue_id):
            return None
        for q in queues:
            if os.path.exists(self.path(q, queue_id)):
                return q
        return None

    def read(self, queue: str, queue_id: str, header_only: bool = False) -> qfile.QueuedMessage:
        """Parse a queue file (FileNotFoundError when it is gone, QueueFileError when torn)."""
        fd = os.open(self.path(queue, queue_id), os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = _read_all(fd)
        finally:
            os.close(fd)
        return qfile.decode(queue_id, data, header_only)

    def claim(self, queue: str, queue_id: str) -> tuple[int, qfile.QueuedMessage] | None:
        """A message for a queue manager to work on: (fd, message), the file open for reading
        and writing (mark_many writes through it) with an exclusive flock that the caller
        holds until it is done (closes fd); None while somebody else holds it (see lock()).
        FileNotFoundError when it is gone, QueueFileError (fd closed) when torn."""
        fd = self.lock(queue, queue_id, os.O_RDWR)
        if fd is None:
            return None
        try:
            return fd, qfile.decode(queue_id, _read_all(fd))
        except BaseException:
            os.close(fd)
            raise

    def lock(self, queue: str, queue_id: str, mode: int = os.O_RDONLY) -> int | None:
        """The file open with an exclusive flock (the caller closes fd to let it go); None
        while somebody else holds it: its writer (an incoming file is marked complete just
        before its fsync, so a scan can see it before it is durable), a queue manager (of
        this process, another one, or the one a reload replaced) or a queue tool. The lock is
        also how a message in active that a dead process left is told from one a live process
        is delivering (the kernel drops a dead process's locks). FileNotFoundError when the
        message is gone. `mode`: how the file is opened (claim() writes through it)."""
        path = self.path(queue, queue_id)
        fd = os.open(path, mode | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # its holder may have moved it on (another queue, spare/) and let it go between
            # the open and the lock: a lock on a file no longer here is no claim
            opened, here = os.fstat(fd), os.stat(path)
            if (opened.st_dev, opened.st_ino) != (here.st_dev, here.st_ino):
                raise FileNotFoundError(path)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def move(self, queue_id: str, src: str, dst: str, mtime: float | None = None,
             durable: bool = True) -> None:
        """Rename a message into another queue; both directory entries are made durable
        (unless not `durable`: see the module docstring)."""
        dst_dir = self.dir_of(dst, queue_id)
        target = os.path.join(dst_dir, queue_id)
        if mtime is not None:
            os.utime(self.path(src, queue_id), (mtime, mtime))
        try:
            os.rename(self.path(src, queue_id), target)
        except FileNotFoundError:
            if os.path.isdir(dst_dir):
                raise  # the message itself is gone
            os.makedirs(dst_dir, mode=0o700, exist_ok=True)
            os.rename(self.path(src, queue_id), target)
        if not durable:
            return
        fsync_dir(dst_dir)
        if self.dir_of(src, queue_id) != dst_dir:
            fsync_dir(self.dir_of(src, queue_id))

    def set_next_attempt(self, queue: str, queue_id: str, when: float) -> None:
        os.utime(self.path(queue, queue_id), (when, when))

    def next_attempt(self, queue: str, queue_id: str) -> float:
        return os.stat(self.path(queue, queue_id)).st_mtime

    def mark(self, queue: str, msg: qfile.QueuedMessage, index: int, status: bytes) -> None:
        """Record one recipient's completion in place (durable before anything else happens)."""
        fd = os.open(self.path(queue, msg.queue_id), os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.pwrite(fd, status, msg.status_offsets[index])
            os.fdatasync(fd)
        finally:
            os.close(fd)
        msg.statuses[index] = status
        msg.envelope.recipients[index].done = status != qfile.PENDING

    def mark_many(self, queue: str, msg: qfile.QueuedMessage, statuses: dict[int, bytes],
                  durable: bool = True, fd: int = -1) -> None:
        """mark() for several recipients with one open and one fdatasync; without the
        fdatasync when the caller removes the file right after (see the module docstring).
        `fd`: the file, open for writing already (claim()): no open of its own."""
        own = fd < 0
        if own:
            fd = os.open(self.path(queue, msg.queue_id), os.O_WRONLY | os.O_CLOEXEC)
        try:
            for index, status in statuses.items():
                os.pwrite(fd, status, msg.status_offsets[index])
            if durable:
                os.fdatasync(fd)
        finally:
            if own:
                os.close(fd)
        for index, status in statuses.items():
            msg.statuses[index] = status
            msg.envelope.recipients[index].done = status != qfile.PENDING

    def set_flag(self, queue: str, msg: qfile.QueuedMessage, index: int, char: str) -> None:
        fd = os.open(self.path(queue, msg.queue_id), os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.pwrite(fd, char.encode("ascii"), qfile.FLAGS_OFFSET + index)
            os.fdatasync(fd)
        finally:
            os.close(fd)
        msg.flags = msg.flags[:index] + char + msg.flags[index + 1:]

    def delete(self, queue: str, queue_id: str, durable: bool = True,
               logs: bool = True, size: int | None = None) -> bool:
        """Remove a message (and its logs, unless the caller knows there are none); False
        when it was already gone. `durable`: see the module docstring. `size`: the message's
        size, given when its file may be kept as a spare (module docstring)."""
        if logs:
            for kind in LOG_DIRS:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.log_path(kind, queue_id))
        path = self.path(queue, queue_id)
        try:
            if size is not None and size <= SPARE_SIZE_MAX and not durable \
                    and self._spare_room():
                os.rename(path, os.path.join(self._spare, queue_id))
                self._spares_kept = (self._spares_kept or 0) + 1
                self._spares_listed = 0.0  # create() in this process may list it at once
            else:
                os.unlink(path)
        except FileNotFoundError:
            if os.path.exists(path):  # no spare/ (a queue directory made by an older affix)
                self.ensure_dirs()
                return self.delete(queue, queue_id, durable, logs=False)
            return False
        if durable:
            fsync_dir(self.dir_of(queue, queue_id))
        return True

    def _spare_room(self) -> bool:
        kept = self._spares_kept
        if kept is not None and kept > SPARE_MAX:  # found full lately: no counting for a while
            self._spares_kept = kept - 1
            return False
        if kept is None or kept == SPARE_MAX:  # unknown, or others may have taken some
            try:
                kept = len(os.listdir(self._spare))
            except FileNotFoundError:
                kept = 0
            self._spares_kept = kept if kept < SPARE_MAX else SPARE_MAX + SPARE_MAX // 4
        return kept < SPARE_MAX

    def quarantine(self, queue: str, queue_id: str) -> None:
        """Move a damaged file to corrupt/."""
        with contextlib.suppress(FileNotFoundError):
            self.move(queue_id, queue, "corrupt")

    # --- per-message status logs -------------------------------------------------------------
    def log_path(self, kind: str, queue_id: str) -> str:
        return f"{self._dirs.get(kind) or os.path.join(self.root, kind)}/{queue_id}"

    def append_log(self, kind: str, queue_id: str, fields: tuple[str, ...],
                   durable: bool = True) -> None:
        line = b"\t".join(qfile.escape(f) for f in fields) + b"\n"
        os.makedirs(os.path.join(self.root, kind), mode=0o700, exist_ok=True)
        fd = os.open(self.log_path(kind, queue_id),
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line)
            if durable:
                os.fdatasync(fd)
        finally:
            os.close(fd)

    def read_log(self, kind: str, queue_id: str) -> list[tuple[str, ...]]:
        try:
            with open(self.log_path(kind, queue_id), "rb") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        return [tuple(qfile.unescape(x) for x in line.split(b"\t")) for line in lines if line]

    def remove_log(self, kind: str, queue_id: str) -> None:
        try:
            os.unlink(self.log_path(kind, queue_id))
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
