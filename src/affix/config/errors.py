"""Errors found in configuration files, always naming the file and line."""

from __future__ import annotations


class ConfigError(Exception):
    """A problem an admin must fix; str() is `file:line: what is wrong` (no traceback)."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None):
        self.message = message
        self.file = file
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}: {self.message}"
        if self.file:
            return f"{self.file}: {self.message}"
        return self.message
