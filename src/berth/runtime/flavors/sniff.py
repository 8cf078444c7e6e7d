"""Cheap looks at a file's first bytes: what kind of artifact it is, without loading it."""

from __future__ import annotations

import zipfile
from pathlib import Path

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib"})
"""Extensions of pickle files (joblib files are pickles too, possibly compressed)."""

_PICKLE_PROTO = 0x80  # the PROTO opcode that starts every pickle of protocol 2 or later


def head(path: Path, size: int = 64) -> bytes:
    """The first `size` bytes of a file; empty for a folder or an unreadable path."""
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def is_pickle(path: Path) -> bool:
    """True for a pickle by extension or by its protocol opcode (0x80, protocol 2 to 5); it is
    never unpickled to find out."""
    if not path.is_file():
        return False
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    start = head(path, 2)
    return len(start) == 2 and start[0] == _PICKLE_PROTO and 2 <= start[1] <= 5


def zip_members(path: Path) -> frozenset[str]:
    """The member names of a zip file (read from its central directory); empty when it is not one."""
    if not path.is_file() or head(path, 4) != b"PK\x03\x04":
        return frozenset()
    try:
        with zipfile.ZipFile(path) as archive:
            return frozenset(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return frozenset()
