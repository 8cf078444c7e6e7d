"""The S3 artifact store's own behaviour (the shared contract is in test_artifact_contract.py), on a
real S3 API server: multipart uploads, server-side encryption, no re-upload of bytes the bucket
holds, a replica with its own cache, the cache's bound and repair, and clear errors for a store that
is unreachable, missing or misnamed."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from berth.storage.s3_artifacts import MIB, S3ArtifactStore, S3Options, parse_s3_uri, s3_artifact_store
from berth.wiring.implementations import open_artifacts
from tests.support.s3 import S3Server
from tests.support.servers import free_port

pytestmark = pytest.mark.s3


def _options(server: S3Server, cache: Path, **changes: Any) -> S3Options:
    return S3Options(cache_dir=cache, cache_max_bytes=1 << 30, endpoint_url=server.endpoint_url, **changes)


class _CountingClient:
    """A boto3 client that counts the uploads it is asked for."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.uploads = 0

    def upload_file(self, *args: Any, **kwargs: Any) -> None:
        self.uploads += 1
        self._client.upload_file(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_large_artifacts_go_up_in_parts(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    options = _options(
        s3_server, tmp_path / "cache", multipart_threshold_bytes=5 * MIB, multipart_chunk_bytes=5 * MIB
    )
    store = S3ArtifactStore(bucket, "", options)
    content = bytes(range(256)) * (11 * MIB // 256)

    ref = store.put(io.BytesIO(content), filename="big.onnx")

    head = s3_server.client().head_object(Bucket=bucket, Key=store.key(ref.sha256))
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    assert head["Metadata"] == {"sha256": hashlib.sha256(content).hexdigest()}
    fresh = S3ArtifactStore(bucket, "", _options(s3_server, tmp_path / "other-cache"))
    assert fresh.fetch(ref).read_bytes() == content


@pytest.mark.parametrize("sse", ["AES256", "aws:kms"])
def test_objects_are_written_with_server_side_encryption(
    s3_server: S3Server, tmp_path: Path, sse: str
) -> None:
    bucket = s3_server.new_bucket()
    store = S3ArtifactStore(bucket, "p", _options(s3_server, tmp_path / "cache", sse=sse))

    ref = store.put(io.BytesIO(b"secret model"), filename="m.bin")

    head = s3_server.client().head_object(Bucket=bucket, Key=store.key(ref.sha256))
    assert head["ServerSideEncryption"] == sse


def test_bytes_the_bucket_holds_are_not_sent_again(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    counting = _CountingClient(s3_server.client())
    store = S3ArtifactStore(bucket, "p", _options(s3_server, tmp_path / "cache"), client=counting)  # type: ignore[arg-type]

    store.put(io.BytesIO(b"one model"), filename="a.bin")
    store.put(io.BytesIO(b"one model"), filename="b.bin")
    store.put(io.BytesIO(b"another model"), filename="c.bin")

    assert counting.uploads == 2


def test_a_replica_with_its_own_cache_fetches_what_another_put(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    writer = S3ArtifactStore(bucket, "models", _options(s3_server, tmp_path / "a"))
    reader = S3ArtifactStore(bucket, "models", _options(s3_server, tmp_path / "b"))

    ref = writer.put(io.BytesIO(b"pushed on replica a"), filename="m.bin")

    path = reader.fetch(ref)
    assert path.is_relative_to(tmp_path / "b")
    assert path.read_bytes() == b"pushed on replica a"


def test_the_cache_keeps_its_bound_and_fetches_evicted_artifacts_again(
    s3_server: S3Server, tmp_path: Path
) -> None:
    store = S3ArtifactStore(
        s3_server.new_bucket(),
        "",
        S3Options(cache_dir=tmp_path / "c", cache_max_bytes=150, endpoint_url=s3_server.endpoint_url),
    )
    refs = [store.put(io.BytesIO(bytes([i]) * 60), filename=f"{i}.bin") for i in range(4)]

    assert store.cache.size() <= 150
    assert store.cache.hit(refs[0].sha256) is None  # the least recently used went first
    assert store.fetch(refs[0]).read_bytes() == bytes([0]) * 60
    assert store.cache.size() <= 150


def test_an_artifact_larger_than_the_cache_is_still_served(s3_server: S3Server, tmp_path: Path) -> None:
    store = S3ArtifactStore(
        s3_server.new_bucket(),
        "",
        S3Options(cache_dir=tmp_path / "c", cache_max_bytes=10, endpoint_url=s3_server.endpoint_url),
    )

    ref = store.put(io.BytesIO(b"x" * 100), filename="m.bin")

    assert store.fetch(ref).read_bytes() == b"x" * 100


def test_a_damaged_cached_copy_is_fetched_again(s3_server: S3Server, tmp_path: Path) -> None:
    store = S3ArtifactStore(s3_server.new_bucket(), "", _options(s3_server, tmp_path / "cache"))
    ref = store.put(io.BytesIO(b"original"), filename="m.bin")
    store.cache.path(ref.sha256).write_bytes(b"bit rot")

    assert store.fetch(ref).read_bytes() == b"original"


def test_an_unreachable_store_is_unavailable(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    client = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="y", region_name="us-east-1"
    ).client("s3", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}, connect_timeout=2))
    store = S3ArtifactStore(
        "bucket", "", S3Options(cache_dir=tmp_path, cache_max_bytes=1 << 20), client=client
    )

    with pytest.raises(BerthError) as caught:
        store.put(io.BytesIO(b"m"), filename="m.bin")

    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert "s3://bucket" in caught.value.message
    assert list(tmp_path.rglob("*.*")) == []  # no spooled file left behind


def test_a_missing_bucket_is_refused_at_start(s3_server: S3Server, tmp_path: Path) -> None:
    with pytest.raises(BerthError) as caught:
        s3_artifact_store("s3://no-such-bucket-here/x", _options(s3_server, tmp_path))

    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert "s3://no-such-bucket-here/x" in caught.value.message


def test_settings_name_an_s3_store(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    settings = Settings(
        home=tmp_path / "home", artifact_uri=f"s3://{bucket}/team-a", s3_endpoint_url=s3_server.endpoint_url
    )

    store = open_artifacts(settings)

    ref = store.put(io.BytesIO(b"m"), filename="m.bin")
    assert isinstance(store, S3ArtifactStore)
    assert ref.uri == f"s3://{bucket}/team-a/sha256/{ref.sha256[:2]}/{ref.sha256}"
    assert store.fetch(ref).is_relative_to(settings.resolved_artifact_cache_dir)


@pytest.mark.parametrize(
    "uri",
    [
        "s3://",
        "s3://UPPER/x",
        "s3://a/x",
        "s3://b..x/y",
        "s3://bucket/../x",
        "s3://bucket/a//b",
        "s3://bucket/x?versionId=1",
        "s3://user@bucket/x",
        "s3://bucket:9000/x",
    ],
)
def test_a_malformed_s3_uri_is_refused(uri: str) -> None:
    with pytest.raises(BerthError) as caught:
        parse_s3_uri(uri)

    assert caught.value.code is ErrorCode.INVALID_REQUEST


def test_an_unknown_encryption_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BerthError) as caught:
        s3_artifact_store("s3://bucket/x", S3Options(cache_dir=tmp_path, cache_max_bytes=1, sse="rot13"))

    assert caught.value.code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    ("uri", "expected"), [("s3://bucket", ("bucket", "")), ("s3://my.bucket-1/a/b/", ("my.bucket-1", "a/b"))]
)
def test_an_s3_uri_names_a_bucket_and_a_prefix(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected
