"""A bounded local read-through cache of content-addressed artifacts, for stores whose bytes live
elsewhere (`berth.storage.s3_artifacts`).

Files sit at ``<folder>/sha256/<first 2 hex>/<64 hex>``, named only by validated digests. A file
enters the cache by an atomic rename once its bytes are verified, so a reader never sees a partial
or unverified file; every hit is verified again (a damaged copy is dropped and fetched anew). Past
`max_bytes`, the least recently used files go first (a hit refreshes a file's modification time),
never the one just admitted: an artifact larger than the whole cache is still served, alone.

Several processes of one server may share the folder (workers): each admits by rename and evicts by
unlink, which the file system makes atomic; a process that already opened a file keeps reading it
after another unlinks it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from berth.core.entities import check_sha256
from berth.storage.artifacts import file_sha256


class ArtifactCache:
    """Verified artifact files by sha256, at most `max_bytes` of them (least recently used go)."""

    def __init__(self, folder: Path, *, max_bytes: int) -> None:
        self._folder = Path(folder).expanduser().resolve()
        self._objects = self._folder / "sha256"
        self._objects.mkdir(parents=True, exist_ok=True)
        self._max_bytes = max_bytes

    @property
    def folder(self) -> Path:
        return self._folder

    def path(self, digest: str) -> Path:
        check_sha256(digest)
        return self._objects / digest[:2] / digest

    def hit(self, digest: str) -> Path | None:
        """The cached file of `digest` when it holds those bytes (its use time refreshed); a damaged
        copy is removed and None returned."""
        path = self.path(digest)
        try:
            intact = file_sha256(path) == digest
        except FileNotFoundError:
            return None
        if not intact:
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)
        return path

    @contextlib.contextmanager
    def incoming(self) -> Iterator[tuple[Path, BinaryIO]]:
        """A temporary file in the cache's folder (same file system: admitting it is a rename),
        removed afterwards unless it was admitted."""
        handle, name = tempfile.mkstemp(prefix=".incoming-", dir=self._objects)
        temp = Path(name)
        try:
            with os.fdopen(handle, "w+b") as file:
                yield temp, file
        finally:
            temp.unlink(missing_ok=True)

    def admit(self, temp: Path, digest: str) -> Path:
        """Move a verified temporary file into the cache as `digest`; evict down to the bound."""
        path = self.path(digest)
        path.parent.mkdir(exist_ok=True)
        temp.chmod(0o644)
        os.replace(temp, path)
        self.evict(keep=path)
        return path

    def size(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def evict(self, *, keep: Path | None = None) -> list[str]:
        """Remove the least recently used files until the cache fits `max_bytes`; the digests gone."""
        entries = sorted(self._entries(), key=lambda entry: entry[2])
        total = sum(size for _, size, _ in entries)
        gone = []
        for path, size, _ in entries:
            if total <= self._max_bytes:
                break
            if path == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                gone.append(path.name)
            total -= size
        return gone

    def _entries(self) -> list[tuple[Path, int, float]]:
        entries = []
        for path in self._objects.glob("??/*"):
            if path.name.startswith("."):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            entries.append((path, stat.st_size, stat.st_mtime))
        return entries
