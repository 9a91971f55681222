"""An SMTP reply value: code, enhanced status code and text (RFC 5321 4.2, RFC 3463).

The texts themselves live with their owners: smtpd/replies.py for protocol replies, and the
restriction that produces a reject for policy replies.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    code: int
    dsn: str | None
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.dsn} {self.text}" if self.dsn else f"{self.code} {self.text}"

    @property
    def is_reject(self) -> bool:
        return self.code >= 400

    @property
    def is_temporary(self) -> bool:
        return 400 <= self.code < 500

    @property
    def hangs_up(self) -> bool:
        """RFC 5321 3.8: after 421 (and Postfix: 521) the server closes the connection."""
        return self.code in (421, 521)

    def wire(self) -> bytes:
        """The reply as sent: multi-line texts (split on newline) use `CODE-` continuations.
        Made once per Reply: most replies are module constants sent over and over."""
        wire: bytes | None = self.__dict__.get("_wire")
        if wire is None:
            wire = self.__dict__["_wire"] = self._encode()
        return wire

    def _encode(self) -> bytes:
        prefix = f"{self.code} {self.dsn} " if self.dsn else f"{self.code} "
        if "\n" not in self.text:  # one line: most replies, and each message's `queued as`
            return (prefix + self.text + "\r\n").encode("utf-8", "surrogateescape")
        lines = self.text.split("\n")
        cont = f"{self.code}-{self.dsn} " if self.dsn else f"{self.code}-"
        out = [cont + line for line in lines[:-1]] + [prefix + lines[-1]]
        return ("\r\n".join(out) + "\r\n").encode("utf-8", "surrogateescape")
