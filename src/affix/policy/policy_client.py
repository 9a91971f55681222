"""A client for Postfix's policy delegation protocol (SMTPD_POLICY_README).

Request: `name=value` lines, then an empty line. Answer: `action=...` (plus attributes that are
ignored), then an empty line. One connection per server is kept open and reused; a failed
exchange is retried on a new connection up to try_limit times.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from affix.ascii import is_digits
from affix.config.snapshot import Config, split_list

_TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class PolicyError(Exception):
    """The server could not be reached or answered badly; str() is the reason, in the words
    Postfix's warning uses (`Connection refused`, `Connection timed out`...)."""


# what Postfix's warnings say for a server that closes the connection or answers without an
# action (its attribute client reports either as an application error)
_APPLICATION_ERROR = "Application error"


def _seconds(text: str) -> float:
    text = text.strip()
    unit = text[-1] if text and text[-1] in _TIME_UNITS else "s"
    number = text[:-1] if text and text[-1] in _TIME_UNITS else text
    return float(number) * _TIME_UNITS[unit]


@dataclass(frozen=True)
class PolicyEndpoint:
    """`unix:PATH`, `inet:HOST:PORT`, or `{ endpoint, name=value, ... }` (Postfix 3.0)."""
    spec: str
    kind: str  # "unix" or "inet"
    path: str  # socket path or host
    port: int
    timeout: float
    max_idle: float
    request_limit: int
    try_limit: int
    retry_delay: float
    default_action: str
    policy_context: str

    @property
    def name(self) -> str:
        """The server as Postfix's warnings name it: `host:port`, or the socket's path."""
        return self.path if self.kind == "unix" else self.spec.partition(":")[2]

    @classmethod
    def parse(cls, cfg: Config, text: str) -> PolicyEndpoint:
        """Raises ValueError for a malformed endpoint."""
        inner = text.strip()
        if inner.startswith("{") and inner.endswith("}"):
            inner = inner[1:-1]
        items = split_list(inner)
        if not items:
            raise ValueError(f'empty policy service "{text}"')
        opts = {
            "timeout": cfg.get("smtpd_policy_service_timeout"),
            "max_idle": cfg.get("smtpd_policy_service_max_idle"),
            "request_limit": cfg.get("smtpd_policy_service_request_limit"),
            "try_limit": cfg.get("smtpd_policy_service_try_limit"),
            "retry_delay": cfg.get("smtpd_policy_service_retry_delay"),
            "default_action": cfg.get("smtpd_policy_service_default_action"),
            "policy_context": cfg.get("smtpd_policy_service_policy_context"),
        }
        for item in items[1:]:
            # `name=value`, or `{ name = value }` for a value with spaces or commas
            text = item[1:-1].strip() if item.startswith("{") and item.endswith("}") else item
            name, eq, value = text.partition("=")
            if not eq:
                raise ValueError(f"malformed option: missing '=' after attribute name: "
                                 f'"{text}"')
            if name.strip() not in opts:
                raise ValueError(f'bad policy service option "{item}"')
            opts[name.strip()] = value.strip()
        kind, path, port = _address(items[0], cfg)
        return cls(items[0], kind, path, port, _seconds(opts["timeout"]),
                   _seconds(opts["max_idle"]), int(opts["request_limit"] or 0),
                   max(1, int(opts["try_limit"] or 1)), _seconds(opts["retry_delay"]),
                   opts["default_action"], opts["policy_context"])


def _address(endpoint: str, cfg: Config) -> tuple[str, str, int]:
    kind, sep, rest = endpoint.partition(":")
    if not sep:
        kind, rest = "unix", endpoint
    if kind == "unix":
        path = rest if rest.startswith("/") else os.path.join(cfg.get("queue_directory"), rest)
        return "unix", path, 0
    if kind != "inet":
        raise ValueError(f'unsupported policy service type "{kind}"')
    host, _, port = rest.rpartition(":")
    if not is_digits(port) or not host:
        raise ValueError(f'bad policy service address "{endpoint}": need host:port')
    return "inet", host.strip("[]"), int(port)


class PolicyClient:
    def __init__(self, endpoint: PolicyEndpoint):
        self.endpoint = endpoint
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_used = 0.0
        self._requests = 0

    async def query(self, attributes: dict[str, str], warn: Callable[[str], None]) -> str:
        """The `action=` value of the answer; PolicyError after try_limit failures. `warn`
        logs what each failed attempt found (a refused connection, an answer without action)."""
        request = "".join(f"{k}={v}\n" for k, v in attributes.items()) + "\n"
        reason = ""
        async with self._lock:
            for attempt in range(self.endpoint.try_limit):
                if attempt:
                    await asyncio.sleep(self.endpoint.retry_delay)
                try:
                    return await asyncio.wait_for(self._exchange(request.encode(), warn),
                                                  self.endpoint.timeout)
                except TimeoutError:
                    reason = os.strerror(errno.ETIMEDOUT)
                except OSError as e:
                    reason = e.strerror or str(e)
                except (EOFError, PolicyError, asyncio.IncompleteReadError):
                    reason = _APPLICATION_ERROR
                await self.close()
        raise PolicyError(reason)

    async def _connect(self, warn: Callable[[str], None]) -> None:
        ep = self.endpoint
        stale = time.monotonic() - self._last_used > ep.max_idle
        over = ep.request_limit and self._requests >= ep.request_limit
        if self._writer is not None and (stale or over):
            await self.close()
        if self._writer is None:
            try:
                if ep.kind == "unix":
                    self._reader, self._writer = await asyncio.open_unix_connection(ep.path)
                else:
                    self._reader, self._writer = await asyncio.open_connection(ep.path,
                                                                               ep.port)
            except OSError as e:
                warn(f"connect to {ep.name}: {e.strerror or e}")
                raise
            self._requests = 0

    async def _exchange(self, request: bytes, warn: Callable[[str], None]) -> str:
        await self._connect(warn)
        assert self._reader is not None and self._writer is not None
        self._writer.write(request)
        await self._writer.drain()
        answer: dict[str, str] = {}
        while True:
            line = await self._reader.readline()
            if not line:
                raise EOFError
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                break
            name, _, value = text.partition("=")
            answer[name] = value
        self._requests += 1
        self._last_used = time.monotonic()
        if "action" not in answer:
            warn(f"missing attribute action in input from {self.endpoint.name}")
            raise PolicyError(_APPLICATION_ERROR)
        return answer["action"]

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
