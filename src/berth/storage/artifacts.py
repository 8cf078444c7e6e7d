"""Artifact stores: content-addressed bytes (a local folder, ``file://``, here; S3-compatible object
storage, ``s3://``, in `berth.storage.s3_artifacts`; the wiring picks a store by URI scheme,
`berth.wiring.implementations`).

`LocalArtifactStore` keeps each artifact once, at ``<root>/sha256/<first 2 hex>/<64 hex>``. Only a
validated digest ever builds a path; a put streams into a temporary file next to the final place
while hashing, then renames it atomically, so readers never see a partial artifact.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Final
from urllib.parse import urlsplit
from urllib.request import url2pathname

from berth.core.entities import ArtifactRef, check_sha256
from berth.core.errors import BerthError, ErrorCode
from berth.storage.protocols import ArtifactStore

CHUNK_BYTES: Final = 1024 * 1024


class LocalArtifactStore:
    """Artifacts in a local folder (created when missing), addressed by their sha256."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root).expanduser().resolve()
        self._objects = self._root / "sha256"
        self._objects.mkdir(parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        """The folder holding the artifacts (absolute)."""
        return self._root

    def put(self, source: BinaryIO, *, filename: str, max_bytes: int | None = None) -> ArtifactRef:
        """Store the stream's bytes (hashing while copying); return where and what they hash to.
        Storing the same bytes twice stores them once. Over `max_bytes`: PAYLOAD_TOO_LARGE."""
        handle, temp_name = tempfile.mkstemp(prefix=".incoming-", dir=self._objects)
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                digest, size = copy_hashing(source, out, max_bytes)
                out.flush()
                os.fsync(out.fileno())
            path = self._path(digest)
            path.parent.mkdir(exist_ok=True)
            if _holds(path, digest):
                temp.unlink()
            else:
                temp.chmod(0o644)
                os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return ArtifactRef(sha256=digest, uri=path.as_uri(), size=size, filename=filename)

    def fetch(self, ref: ArtifactRef) -> Path:
        """A local file holding the artifact, verified against `ref.sha256` before it is returned
        (ARTIFACT_INTEGRITY when the bytes do not match, ARTIFACT_INVALID when they are missing)."""
        path = self._path(check_sha256(ref.sha256))
        try:
            actual = file_sha256(path)
        except FileNotFoundError:
            raise BerthError(
                ErrorCode.ARTIFACT_INVALID, f"artifact {ref.sha256} is missing from {self._root}"
            ) from None
        if actual != ref.sha256:
            raise BerthError(
                ErrorCode.ARTIFACT_INTEGRITY,
                f"artifact {ref.sha256} is corrupt: its bytes hash to {actual}",
                expected=ref.sha256,
                actual=actual,
            )
        return path

    def _path(self, digest: str) -> Path:
        check_sha256(digest)
        return self._objects / digest[:2] / digest


def copy_hashing(source: BinaryIO, out: BinaryIO, max_bytes: int | None) -> tuple[str, int]:
    """Copy `source` into `out` in chunks; the sha256 and size of what was copied. Over `max_bytes`:
    PAYLOAD_TOO_LARGE (the caller removes what was written)."""
    hasher = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_BYTES):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise BerthError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"the artifact is larger than the limit of {max_bytes} bytes",
                max_bytes=max_bytes,
            )
        hasher.update(chunk)
        out.write(chunk)
    return hasher.hexdigest(), size


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (FileNotFoundError when it is missing)."""
    hasher = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()


def _holds(path: Path, digest: str) -> bool:
    """Whether `path` already holds intact bytes of `digest` (a damaged copy gets replaced)."""
    try:
        return file_sha256(path) == digest
    except FileNotFoundError:
        return False


def local_artifact_store(uri: str) -> ArtifactStore:
    """The artifact store in the folder a ``file:///path`` URI names (on this host)."""
    return LocalArtifactStore(file_uri_folder(uri, "artifact store"))


def file_uri_folder(uri: str, what: str) -> Path:
    """The folder of this host a ``file:///path`` URI names (INVALID_REQUEST otherwise); `what` names
    the store in the message."""
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise BerthError(
            ErrorCode.INVALID_REQUEST, f"{what} URI {uri!r} names a remote host; use file:///path"
        )
    if not parts.path:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"{what} URI {uri!r} names no folder")
    return Path(url2pathname(parts.path))
