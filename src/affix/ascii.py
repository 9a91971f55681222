"""Tests and cleaning for text that comes from outside (SMTP commands, config files, tables,
DNS, files users leave in maildrop/).

str.isdigit() is true for digits of every script: '²' (which int() refuses, a ValueError no
caller expects) and '٣' (which int() reads as 3, so `4٣5 text` would pass for reply code 435).
A number in any protocol or file affix reads is ASCII.
"""


def is_digits(text: str) -> bool:
    """A non-empty run of ASCII digits 0-9."""
    return text.isascii() and text.isdigit()


def printable(text: str) -> str:
    """A value from outside as it may be stored or logged: non-printable characters become
    `?` (as Postfix's printable()), so that no value can add a line to a queue file, a log or
    a notice, or send a terminal's escape sequences to whoever reads the log."""
    if text.isprintable():  # as a rule: one C call instead of a generator step a character
        return text
    return "".join(c if c.isprintable() else "?" for c in text)
