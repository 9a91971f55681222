"""Tests for text that comes from outside (SMTP commands, config files, tables, DNS).

str.isdigit() is true for digits of every script: '²' (which int() refuses, a ValueError no
caller expects) and '٣' (which int() reads as 3, so `4٣5 text` would pass for reply code 435).
A number in any protocol or file affix reads is ASCII.
"""


def is_digits(text: str) -> bool:
    """A non-empty run of ASCII digits 0-9."""
    return text.isascii() and text.isdigit()
