"""A placeholder SMTP session (greeting, EHLO/HELO, NOOP, QUIT) until the full protocol lands."""

from __future__ import annotations

import asyncio
import contextlib

from affix.config.maincf import expand


async def run_session(ctx, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    cfg = ctx.cfg
    host = cfg.get("myhostname")
    banner = expand(cfg.raw("smtpd_banner") or "", cfg.raw)
    try:
        writer.write(f"220 {banner}\r\n".encode())
        await writer.drain()
        while line := await reader.readline():
            verb = line.split(maxsplit=1)[0].upper() if line.strip() else b""
            if verb == b"QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                break
            if verb in (b"EHLO", b"HELO"):
                writer.write(f"250 {host}\r\n".encode())
            elif verb == b"NOOP":
                writer.write(b"250 2.0.0 Ok\r\n")
            else:
                writer.write(b"502 5.5.2 Error: command not recognized\r\n")
            await writer.drain()
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
