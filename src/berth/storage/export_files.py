"""Where record exports are kept: a `pyarrow.fs` file system, a folder (or key prefix) in it, and how
a finished file is put there whole. `ExportFiles` is the contract; `LocalExportFiles` keeps them in a
folder on this host (the berth home's ``exports/`` by default), `berth.storage.s3_exports` in
S3-compatible object storage. The wiring picks one by the scheme of `Settings.export_uri`.

What is in an export, its ids and its lifecycle are `berth.control.record_exports`'; this module
only knows files by name. Every file is written to a local **spool** file first and then published
under its name at once, so nobody ever reads a part of one: on a local disk the spool sits in the
same folder and is renamed over the name; in object storage it is uploaded as one object. Writes,
deletes and whole-file reads (downloads) are the store's own methods; listing, sizes, times and
Parquet reads go through its `filesystem` (why: `berth.storage.s3_exports`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Final, Protocol

from pyarrow import fs as pafs

SPOOL_SUFFIX: Final = ".spool"
STALE_SPOOL_S: Final = 24 * 3600.0
"""A spool file older than this was left by a process that died while writing (exports take minutes)."""


class ByteStream(Protocol):
    """A file opened for reading, front to back (a local file, or the body of an object's GET)."""

    def read(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


class ExportFiles(Protocol):
    """Files by name in one place, read through a pyarrow file system, written whole."""

    @property
    def location(self) -> str:
        """Where they are, as a URI (``file:///...``, ``s3://bucket/prefix``): for messages and logs."""
        ...

    @property
    def filesystem(self) -> pafs.FileSystem:
        """The `pyarrow.fs.FileSystem` that lists, sizes, dates and reads them (Parquet footers and row
        groups); nothing writes or deletes through it."""
        ...

    @property
    def root(self) -> str:
        """The folder (or ``bucket/prefix``) in `filesystem` that holds them."""
        ...

    def spool(self, name: str) -> Path:
        """A new, empty local file to write `name` into before it is published."""
        ...

    def publish(self, spool: Path, name: str) -> None:
        """Put `spool` in place as `name`, whole (a reader sees the old file or the new one, never a
        part of either), and remove the spool. UNAVAILABLE when the store refuses it."""
        ...

    def open(self, name: str) -> tuple[ByteStream, int]:
        """File `name` as it is now, to read front to back in one go, and its size: a replacement
        published meanwhile is not mixed in. FileNotFoundError when there is none."""
        ...

    def delete(self, name: str) -> None:
        """Delete file `name` (nothing to do when it is gone)."""
        ...


class LocalExportFiles:
    """Files in a folder of this host (created when missing)."""

    def __init__(self, folder: Path) -> None:
        self._folder = Path(folder).expanduser().resolve()
        self._folder.mkdir(parents=True, exist_ok=True)
        self._filesystem = pafs.LocalFileSystem()
        remove_stale_spools(self._folder)

    @property
    def location(self) -> str:
        return self._folder.as_uri()

    @property
    def filesystem(self) -> pafs.FileSystem:
        return self._filesystem

    @property
    def root(self) -> str:
        return self._folder.as_posix()

    def spool(self, name: str) -> Path:
        return new_spool(self._folder, name)  # the same folder: publishing is a rename

    def publish(self, spool: Path, name: str) -> None:
        try:
            os.replace(spool, self._folder / name)
        except BaseException:
            spool.unlink(missing_ok=True)
            raise

    def open(self, name: str) -> tuple[ByteStream, int]:
        stream = self._filesystem.open_input_file(f"{self.root}/{name}")  # FileNotFoundError when gone
        return stream, int(stream.size())  # the size of the file opened, whatever replaces it later

    def delete(self, name: str) -> None:
        (self._folder / name).unlink(missing_ok=True)


def new_spool(folder: Path, name: str) -> Path:
    """A new, empty file in `folder` for writing `name` (``.<name>.<random>.spool``: never an export's
    name, so listing passes it by)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, path = tempfile.mkstemp(prefix=f".{name}.", suffix=SPOOL_SUFFIX, dir=folder)
    os.close(handle)
    return Path(path)


def remove_stale_spools(folder: Path, older_than_s: float = STALE_SPOOL_S) -> None:
    """Delete the spool files in `folder` that processes killed while writing left behind."""
    cutoff = time.time() - older_than_s
    for path in folder.glob(f".*{SPOOL_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
