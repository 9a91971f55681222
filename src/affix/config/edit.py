"""Edit main.cf in place the way `postconf -e`, `-X` and `-#` do (config.md §7).

Every entry of a name (there may be several) is changed where it stands: its first physical
line is replaced and its continuation lines go, while comments and blank lines inside or
around it stay. New names are appended at the end. The file is replaced by rename.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from affix.config.errors import ConfigError
from affix.config.maincf import is_skipped, physical_lines


def entry_lines(lines: Sequence[str]) -> dict[str, list[list[int]]]:
    """name -> for each of its entries, the indexes of the physical lines holding its value."""
    found: dict[str, list[list[int]]] = {}
    current: list[int] | None = None
    for index, raw in enumerate(lines):
        if is_skipped(raw):
            continue
        if raw[0].isspace():
            if current is not None:
                current.append(index)
            continue
        m = re.match(r"([^=\s]+)\s*=", raw)
        current = [index] if m else None
        if m and current is not None:
            found.setdefault(m.group(1), []).append(current)
    return found


def parse_assignment(arg: str) -> tuple[str, str]:
    """`name=value` (spaces around `=` allowed), as given to `affix conf -e`."""
    if "\n" in arg or "\r" in arg:  # a second line would be written to main.cf as it is
        raise ConfigError("affix conf: -e, -X or -# accepts no multi-line input")
    name, sep, value = arg.partition("=")
    name = name.strip()
    if not sep or not name or any(c.isspace() for c in name):
        raise ConfigError(f"missing '=' after attribute name: \"{arg.strip()}\"")
    return name, value.strip()


def edit_text(text: str, assign: Mapping[str, str] | None = None, remove: Sequence[str] = (),
              comment_out: Sequence[str] = ()) -> str:
    """The new main.cf text after setting, removing and commenting out names."""
    assign = assign or {}
    lines = physical_lines(text)
    where = entry_lines(lines)
    out: list[str | None] = list(lines)
    for name, value in assign.items():
        for indexes in where.get(name, []):
            out[indexes[0]] = f"{name} = {value}"
            for i in indexes[1:]:
                out[i] = None
    for name in remove:
        for indexes in where.get(name, []):
            for i in indexes:
                out[i] = None
    for name in comment_out:
        for indexes in where.get(name, []):
            for i in indexes:
                out[i] = "#" + lines[i]
    kept = [line for line in out if line is not None]
    kept += [f"{name} = {value}" for name, value in assign.items() if name not in where]
    return "".join(line + "\n" for line in kept)


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file in the same directory, then rename over the original."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=".main.cf.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def edit_file(path: Path, assign: Mapping[str, str] | None = None, remove: Sequence[str] = (),
              comment_out: Sequence[str] = ()) -> None:
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        text = ""
    except OSError as e:
        raise ConfigError(e.strerror or str(e), str(path)) from e
    try:
        write_atomically(path, edit_text(text, assign or {}, remove, comment_out))
    except OSError as e:
        raise ConfigError(f"cannot update: {e.strerror or e}", str(path)) from e
