"""A stand-in for the cleanup service while none is configured (SessionContext.cleanup None).

TEMPORARY WIRING AID: the lifecycle passes the real `affix.cleanup.service.Cleanup`; until the
queue area lands, a session without one still completes the dialog: it gets queue ids of the
same shape (5 hex digits of microseconds + a counter in hex, as Postfix uses the inode) and
the message is accepted and dropped, with a warning logged once per process. Never use it in
production: "250 means on disk" does not hold here.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from affix import log
from affix.queue.envelope import Envelope
from affix.reply import Reply
from affix.smtpd import replies

_counter = itertools.count(0x10000)
_warned = False


@dataclass
class NullQueueFile:
    queue_id: str


class NullCleanup:
    def open(self) -> NullQueueFile:
        micro = int(time.time() * 1_000_000) % 1_000_000
        return NullQueueFile(f"{micro:05X}{next(_counter):X}")

    async def finish(self, qf: NullQueueFile, envelope: Envelope, content: bytes) -> Reply:
        global _warned
        if not _warned:
            _warned = True
            log.warning("smtpd", "no queue is configured: accepted mail is discarded")
        return replies.queued(qf.queue_id)

    def abandon(self, qf: NullQueueFile) -> None:
        return None
