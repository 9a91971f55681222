"""The server processes bench/smtpd.py measures:
`python -m bench.smtpd_serve affix|aiosmtpd DIR PORT` (PORT 0: a free one, printed; an affix
given a port shares it with the affix processes already there, as affix_workers' do).

A module of its own that imports only what its server needs (not the driver's subprocess,
tempfile or shutil), so the footprint rows count the server and nothing of the bench.
"""

from __future__ import annotations

import os
import sys


def serve_affix(workdir: str, port: int) -> None:
    import asyncio

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
    import asyncio

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


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "affix":
        serve_affix(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "aiosmtpd":
        serve_aiosmtpd()
    else:
        sys.exit("usage: python -m bench.smtpd_serve affix|aiosmtpd DIR PORT")
