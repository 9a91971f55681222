"""The server processes bench/smtpd.py measures:
`python -m bench.smtpd_serve affix|aiosmtpd|canned DIR PORT` (PORT 0: a free one, printed; an
affix given a port shares it with the affix processes already there, as affix_workers' do).

A module of its own that imports only what its server needs (not the driver's subprocess,
tempfile or shutil), so the footprint rows count the server and nothing of the bench.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import cast


def serve_affix(workdir: str, port: int) -> None:
    import uvloop

    from affix import log
    from affix.cleanup.service import Cleanup
    from affix.config.snapshot import load_config
    from affix.dns.resolver import Resolver
    from affix.policy.engine import RestrictionEngine
    from affix.queue.store import QueueStore
    from affix.smtpd.server import SessionContext, SmtpService
    from affix.tables import TableCache

    cfg = load_config(workdir)
    log.set_log(log.MailLog(path=os.path.join(workdir, "maillog")))
    tables, resolver = TableCache(cfg), Resolver.from_config(cfg)
    ctx = SessionContext(cfg, policy=RestrictionEngine(cfg, tables, resolver),
                         cleanup=Cleanup(cfg, QueueStore(cfg.get("queue_directory"))),
                         resolver=resolver, tables=tables)

    async def main() -> None:
        service = SmtpService("smtp", "127.0.0.1", port, lambda: ctx, reuse_port=True)
        await service.start()
        print(service.bound_port, flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())


def serve_aiosmtpd() -> None:
    import uvloop
    from aiosmtpd.handlers import Sink
    from aiosmtpd.smtp import SMTP

    async def main() -> None:
        loop = asyncio.get_running_loop()
        handler = Sink()
        server = await loop.create_server(lambda: SMTP(handler), "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())  # the reference figures are aiosmtpd on uvloop


class CannedReplies(asyncio.Protocol):
    """The least an SMTP server in Python on uvloop can do for smtp-source: a fixed reply per
    line (no parsing, no checks, no storage). Not a server anyone should run: it is the bench's
    ceiling for what Python and the event loop leave of this box, to read the others against."""

    REPLIES = {b"MAIL": b"250 2.1.0 Ok\r\n", b"RCPT": b"250 2.1.5 Ok\r\n",
               b"DATA": b"354 End data with <CR><LF>.<CR><LF>\r\n", b"QUIT": b"221 2.0.0 Bye\r\n",
               b"EHLO": b"250-canned\r\n250 PIPELINING\r\n", b"HELO": b"250 canned\r\n"}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.buffer, self.in_data = b"", False
        transport.write(b"220 canned ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = []
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    break
                self.buffer, self.in_data = self.buffer[end + 5:], False
                out.append(b"250 2.0.0 Ok: queued\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            verb, self.buffer = self.buffer[:4].upper(), self.buffer[end + 2:]
            out.append(self.REPLIES.get(verb, b"250 2.0.0 Ok\r\n"))
            self.in_data = verb == b"DATA"
            if verb == b"QUIT":
                self.transport.write(b"".join(out))
                self.transport.close()
                return
        if out:
            self.transport.write(b"".join(out))

    def eof_received(self) -> None:
        self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        pass


def serve_canned() -> None:
    import uvloop

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(CannedReplies, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "affix":
        serve_affix(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "aiosmtpd":
        serve_aiosmtpd()
    elif len(sys.argv) == 4 and sys.argv[1] == "canned":
        serve_canned()
    else:
        sys.exit("usage: python -m bench.smtpd_serve affix|aiosmtpd|canned DIR PORT")
