"""The local artifact store: content addressing, dedupe, integrity checks, limits, failed uploads."""

from __future__ import annotations

import hashlib
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.core.entities import ArtifactRef
from berth.core.errors import BerthError, ErrorCode
from berth.storage.artifacts import CHUNK_BYTES, LocalArtifactStore, local_artifact_store


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def test_put_then_fetch_roundtrip(artifacts: LocalArtifactStore) -> None:
    content = b"a model"
    digest = hashlib.sha256(content).hexdigest()

    ref = artifacts.put(io.BytesIO(content), filename="model.skops")

    assert ref.sha256 == digest
    assert ref.size == len(content)
    assert ref.filename == "model.skops"
    path = artifacts.fetch(ref)
    assert path == artifacts.root / "sha256" / digest[:2] / digest
    assert ref.uri == path.as_uri()
    assert path.read_bytes() == content


def test_large_streams_are_copied_in_chunks(artifacts: LocalArtifactStore) -> None:
    content = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 3)

    ref = artifacts.put(io.BytesIO(content), filename="big.bin")

    assert ref.size == len(content)
    assert artifacts.fetch(ref).read_bytes() == content


def test_identical_bytes_are_stored_once(artifacts: LocalArtifactStore) -> None:
    first = artifacts.put(io.BytesIO(b"same"), filename="a.bin")
    second = artifacts.put(io.BytesIO(b"same"), filename="b.bin")

    assert (first.sha256, first.uri) == (second.sha256, second.uri)
    assert second.filename == "b.bin"
    assert _files(artifacts.root) == [artifacts.fetch(first)]


def test_empty_artifact(artifacts: LocalArtifactStore) -> None:
    ref = artifacts.put(io.BytesIO(b""), filename="empty")

    assert ref.size == 0
    assert artifacts.fetch(ref).read_bytes() == b""


def test_tampered_file_is_detected(artifacts: LocalArtifactStore) -> None:
    ref = artifacts.put(io.BytesIO(b"original"), filename="m.bin")
    artifacts.fetch(ref).write_bytes(b"tampered")

    with pytest.raises(BerthError) as caught:
        artifacts.fetch(ref)

    assert caught.value.code is ErrorCode.ARTIFACT_INTEGRITY


def test_putting_the_bytes_again_repairs_a_damaged_copy(artifacts: LocalArtifactStore) -> None:
    ref = artifacts.put(io.BytesIO(b"original"), filename="m.bin")
    artifacts.fetch(ref).write_bytes(b"tampered")

    artifacts.put(io.BytesIO(b"original"), filename="m.bin")

    assert artifacts.fetch(ref).read_bytes() == b"original"


def test_missing_file_is_artifact_invalid(artifacts: LocalArtifactStore) -> None:
    ref = artifacts.put(io.BytesIO(b"gone soon"), filename="m.bin")
    artifacts.fetch(ref).unlink()

    with pytest.raises(BerthError) as caught:
        artifacts.fetch(ref)

    assert caught.value.code is ErrorCode.ARTIFACT_INVALID


@pytest.mark.parametrize("digest", ["../../etc/passwd", "ABC", "0" * 63, "G" * 64, "0" * 64 + "/x"])
def test_only_valid_digests_name_files(artifacts: LocalArtifactStore, digest: str) -> None:
    with pytest.raises(BerthError) as caught:
        artifacts.fetch(ArtifactRef(sha256=digest, uri="file:///etc/passwd", size=1, filename="x"))

    assert caught.value.code is ErrorCode.ARTIFACT_INTEGRITY


def test_over_max_bytes_is_refused_and_leaves_nothing(artifacts: LocalArtifactStore) -> None:
    with pytest.raises(BerthError) as caught:
        artifacts.put(io.BytesIO(b"x" * 11), filename="m.bin", max_bytes=10)

    assert caught.value.code is ErrorCode.PAYLOAD_TOO_LARGE
    assert _files(artifacts.root) == []


def test_exactly_max_bytes_is_accepted(artifacts: LocalArtifactStore) -> None:
    assert artifacts.put(io.BytesIO(b"x" * 10), filename="m.bin", max_bytes=10).size == 10


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


def test_a_stream_failing_midway_leaves_no_partial_file(artifacts: LocalArtifactStore) -> None:
    with pytest.raises(ConnectionResetError):
        artifacts.put(_BrokenStream(), filename="m.bin")  # type: ignore[arg-type]

    assert _files(artifacts.root) == []


@settings(max_examples=40, derandomize=True, database=None)
@given(content=st.binary(max_size=4096), filename=st.text(min_size=1, max_size=40))
def test_any_bytes_roundtrip(content: bytes, filename: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        artifacts = LocalArtifactStore(Path(folder))

        ref = artifacts.put(io.BytesIO(content), filename=filename)

        assert ref == ArtifactRef(
            sha256=hashlib.sha256(content).hexdigest(), uri=ref.uri, size=len(content), filename=filename
        )
        assert artifacts.fetch(ref).read_bytes() == content


def test_a_file_uri_names_the_store_folder(tmp_path: Path) -> None:
    opened = local_artifact_store((tmp_path / "store").as_uri())

    ref = opened.put(io.BytesIO(b"abc"), filename="m.bin")

    assert opened.fetch(ref).is_relative_to(tmp_path / "store")


@pytest.mark.parametrize("uri", ["file://remote-host/x", "file://"])
def test_a_file_uri_without_a_local_folder_is_refused(uri: str) -> None:
    with pytest.raises(BerthError) as caught:
        local_artifact_store(uri)

    assert caught.value.code is ErrorCode.INVALID_REQUEST
    assert uri in caught.value.message
