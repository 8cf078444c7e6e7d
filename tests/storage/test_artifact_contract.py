"""The artifact-store contract, run on every backend: a local folder (``file://``) and S3-compatible
object storage (``s3://``, a real S3 API server started by the fixture).

Content addressing, storing once, integrity on every fetch, limits and failed uploads behave the same
whichever store the settings name.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.core.entities import ArtifactRef
from berth.core.errors import BerthError, ErrorCode
from berth.storage.artifacts import CHUNK_BYTES, LocalArtifactStore
from berth.storage.protocols import ArtifactStore
from berth.storage.s3_artifacts import S3ArtifactStore, S3Options
from tests.support.s3 import S3Server


@dataclass(frozen=True)
class Backend:
    """A store, and how a test reaches behind it: damage or remove what it holds, list it."""

    store: ArtifactStore
    tamper: Callable[[ArtifactRef, bytes], None]
    remove: Callable[[ArtifactRef], None]
    held: Callable[[], list[str]]
    """The digests the store holds."""
    local_files: Callable[[], list[Path]]
    """Every file the store keeps on this machine (its folder, or its cache)."""


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _local(root: Path) -> Backend:
    store = LocalArtifactStore(root)

    def path(ref: ArtifactRef) -> Path:
        return root / "sha256" / ref.sha256[:2] / ref.sha256

    return Backend(
        store,
        tamper=lambda ref, data: path(ref).write_bytes(data),
        remove=lambda ref: path(ref).unlink(),
        held=lambda: sorted(p.name for p in _files(root)),
        local_files=lambda: _files(root),
    )


def _s3(server: S3Server, cache: Path) -> Backend:
    bucket = server.new_bucket()
    client = server.client()
    store = S3ArtifactStore(
        bucket,
        "team/artifacts",
        S3Options(cache_dir=cache, cache_max_bytes=1 << 30, endpoint_url=server.endpoint_url),
    )

    def tamper(ref: ArtifactRef, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=store.key(ref.sha256), Body=data)
        store.cache.path(ref.sha256).write_bytes(data)

    def remove(ref: ArtifactRef) -> None:
        client.delete_object(Bucket=bucket, Key=store.key(ref.sha256))
        store.cache.path(ref.sha256).unlink(missing_ok=True)

    def held() -> list[str]:
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return sorted(o["Key"].rsplit("/", 1)[-1] for o in listed)

    return Backend(store, tamper, remove, held, lambda: _files(cache))


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "file":
        yield _local(tmp_path / "artifacts")
    else:
        yield _s3(request.getfixturevalue("s3_server"), tmp_path / "cache")


def test_put_then_fetch_roundtrip(backend: Backend) -> None:
    content = b"a model"
    digest = hashlib.sha256(content).hexdigest()

    ref = backend.store.put(io.BytesIO(content), filename="model.skops")

    assert (ref.sha256, ref.size, ref.filename) == (digest, len(content), "model.skops")
    assert ref.uri.endswith(f"/sha256/{digest[:2]}/{digest}")
    assert backend.store.fetch(ref).read_bytes() == content
    assert backend.held() == [digest]


def test_large_streams_are_copied_in_chunks(backend: Backend) -> None:
    content = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 3)

    ref = backend.store.put(io.BytesIO(content), filename="big.bin")

    assert ref.size == len(content)
    assert backend.store.fetch(ref).read_bytes() == content


def test_identical_bytes_are_stored_once(backend: Backend) -> None:
    first = backend.store.put(io.BytesIO(b"same"), filename="a.bin")
    second = backend.store.put(io.BytesIO(b"same"), filename="b.bin")

    assert (first.sha256, first.uri) == (second.sha256, second.uri)
    assert second.filename == "b.bin"
    assert backend.held() == [first.sha256]


def test_empty_artifact(backend: Backend) -> None:
    ref = backend.store.put(io.BytesIO(b""), filename="empty")

    assert ref.size == 0
    assert backend.store.fetch(ref).read_bytes() == b""


def test_tampered_bytes_are_detected(backend: Backend) -> None:
    ref = backend.store.put(io.BytesIO(b"original"), filename="m.bin")
    backend.tamper(ref, b"tampered")

    with pytest.raises(BerthError) as caught:
        backend.store.fetch(ref)

    assert caught.value.code is ErrorCode.ARTIFACT_INTEGRITY
    assert caught.value.details["actual"] == hashlib.sha256(b"tampered").hexdigest()


def test_putting_the_bytes_again_repairs_a_damaged_copy(backend: Backend) -> None:
    ref = backend.store.put(io.BytesIO(b"original"), filename="m.bin")
    backend.tamper(ref, b"tampered")

    backend.store.put(io.BytesIO(b"original"), filename="m.bin")

    assert backend.store.fetch(ref).read_bytes() == b"original"


def test_missing_bytes_are_artifact_invalid(backend: Backend) -> None:
    ref = backend.store.put(io.BytesIO(b"gone soon"), filename="m.bin")
    backend.remove(ref)

    with pytest.raises(BerthError) as caught:
        backend.store.fetch(ref)

    assert caught.value.code is ErrorCode.ARTIFACT_INVALID


@pytest.mark.parametrize("digest", ["../../etc/passwd", "ABC", "0" * 63, "G" * 64, "0" * 64 + "/x"])
def test_only_valid_digests_name_objects(backend: Backend, digest: str) -> None:
    with pytest.raises(BerthError) as caught:
        backend.store.fetch(ArtifactRef(sha256=digest, uri="file:///etc/passwd", size=1, filename="x"))

    assert caught.value.code is ErrorCode.ARTIFACT_INTEGRITY


def test_over_max_bytes_is_refused_and_leaves_nothing(backend: Backend) -> None:
    with pytest.raises(BerthError) as caught:
        backend.store.put(io.BytesIO(b"x" * 11), filename="m.bin", max_bytes=10)

    assert caught.value.code is ErrorCode.PAYLOAD_TOO_LARGE
    assert backend.held() == []
    assert backend.local_files() == []


def test_exactly_max_bytes_is_accepted(backend: Backend) -> None:
    assert backend.store.put(io.BytesIO(b"x" * 10), filename="m.bin", max_bytes=10).size == 10


class _BrokenStream(io.RawIOBase):
    """Gives one chunk, then fails like a dropped connection."""

    def __init__(self) -> None:
        self._sent = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._sent:
            raise ConnectionResetError("client went away")
        self._sent = True
        return b"x" * 1000


def test_a_stream_failing_midway_leaves_nothing(backend: Backend) -> None:
    with pytest.raises(ConnectionResetError):
        backend.store.put(_BrokenStream(), filename="m.bin")  # type: ignore[arg-type]

    assert backend.held() == []
    assert backend.local_files() == []


@settings(
    max_examples=15,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(content=st.binary(max_size=4096), filename=st.text(min_size=1, max_size=40))
def test_any_bytes_roundtrip(backend: Backend, content: bytes, filename: str) -> None:
    ref = backend.store.put(io.BytesIO(content), filename=filename)

    assert ref == ArtifactRef(
        sha256=hashlib.sha256(content).hexdigest(), uri=ref.uri, size=len(content), filename=filename
    )
    assert backend.store.fetch(ref).read_bytes() == content
