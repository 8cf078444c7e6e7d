"""Artifacts in S3-compatible object storage (``s3://bucket/prefix``: AWS S3, MinIO, Ceph RGW, ...).

The same contract as the local folder (`berth.storage.protocols.ArtifactStore`): bytes addressed by
their sha256, at ``<prefix>/sha256/<first 2 hex>/<64 hex>`` in the bucket, stored once, verified on
every fetch. boto3 does the talking: credentials and region come from the standard AWS chain
(environment, profile, instance or pod identity), large artifacts go up in parts (multipart upload,
`S3Options.multipart_threshold_bytes`), and server-side encryption is a setting.

A put spools the stream into the local cache while hashing (the key is the digest, known only at the
end), skips the upload when the bucket already holds those bytes, and keeps the spooled file as the
cached copy. A fetch is served from the bounded read-through cache (`berth.storage.artifact_cache`)
when it holds intact bytes, and otherwise downloads, verifies and admits them. The store's errors
are berth's: a missing object is ARTIFACT_INVALID, bytes that do not hash to their name are
ARTIFACT_INTEGRITY, an unreachable or refusing store is UNAVAILABLE (naming the bucket, never the
credentials).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from berth.core.entities import ArtifactRef, check_sha256
from berth.core.errors import BerthError, ErrorCode
from berth.storage.artifact_cache import ArtifactCache
from berth.storage.artifacts import copy_hashing, file_sha256
from berth.storage.s3_uris import parse_s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB: Final = 1024 * 1024
_SSE: Final = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
_MISSING: Final = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Options:
    """How berth talks to the object store; what is left out comes from the standard AWS chain."""

    cache_dir: Path
    cache_max_bytes: int
    endpoint_url: str | None = None
    """A non-AWS endpoint (MinIO, Ceph, a test server); None: AWS, or ``AWS_ENDPOINT_URL``."""
    region: str | None = None
    sse: str | None = None
    """Server-side encryption of every object berth writes: AES256, aws:kms or aws:kms:dsse."""
    kms_key_id: str | None = None
    multipart_threshold_bytes: int = 64 * MIB
    multipart_chunk_bytes: int = 16 * MIB


class S3ArtifactStore:
    """Artifacts in one bucket under one prefix, read through a local cache."""

    def __init__(
        self, bucket: str, prefix: str, options: S3Options, *, client: S3Client | None = None
    ) -> None:
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._options = options
        self._client = client or _client(options)
        self._cache = ArtifactCache(options.cache_dir, max_bytes=options.cache_max_bytes)
        self._transfer = TransferConfig(
            multipart_threshold=options.multipart_threshold_bytes,
            multipart_chunksize=options.multipart_chunk_bytes,
            use_threads=True,
            max_concurrency=4,
        )
        self._extra = sse_arguments(options.sse, options.kms_key_id)

    @property
    def location(self) -> str:
        return f"s3://{self._bucket}/{self._prefix}" if self._prefix else f"s3://{self._bucket}"

    @property
    def cache(self) -> ArtifactCache:
        return self._cache

    def key(self, digest: str) -> str:
        """The object key of the artifact `digest` (validated: nothing else ever names a key)."""
        check_sha256(digest)
        name = f"sha256/{digest[:2]}/{digest}"
        return f"{self._prefix}/{name}" if self._prefix else name

    def check(self) -> None:
        """That the bucket exists and answers these credentials (UNAVAILABLE otherwise)."""
        self._call("reach", lambda: self._client.head_bucket(Bucket=self._bucket))

    def put(self, source: BinaryIO, *, filename: str, max_bytes: int | None = None) -> ArtifactRef:
        """Store the stream's bytes (hashing while spooling them locally); return where and what they
        hash to. Bytes the bucket already holds are not sent again. Over `max_bytes`: PAYLOAD_TOO_LARGE."""
        with self._cache.incoming() as (temp, spool):
            digest, size = copy_hashing(source, spool, max_bytes)
            spool.flush()
            key = self.key(digest)
            if not self._holds(key, digest, size):
                extra = {**self._extra, "Metadata": {"sha256": digest}}
                self._call(
                    "store",
                    lambda: self._client.upload_file(
                        str(temp), self._bucket, key, ExtraArgs=extra, Config=self._transfer
                    ),
                )
            self._cache.admit(temp, digest)
        return ArtifactRef(sha256=digest, uri=f"s3://{self._bucket}/{key}", size=size, filename=filename)

    def fetch(self, ref: ArtifactRef) -> Path:
        """A local file holding the artifact, verified against `ref.sha256` before it is returned:
        the cached copy, or the bucket's bytes downloaded into the cache (ARTIFACT_INTEGRITY when they
        do not match, ARTIFACT_INVALID when the bucket does not hold them)."""
        digest = check_sha256(ref.sha256)
        cached = self._cache.hit(digest)
        if cached is not None:
            return cached
        key = self.key(digest)
        with self._cache.incoming() as (temp, file):
            file.close()
            self._call(
                "fetch",
                lambda: self._client.download_file(self._bucket, key, str(temp), Config=self._transfer),
                missing=f"artifact {digest} is missing from {self.location}",
            )
            actual = file_sha256(temp)
            if actual != digest:
                raise BerthError(
                    ErrorCode.ARTIFACT_INTEGRITY,
                    f"artifact {digest} is corrupt in {self.location}: its bytes hash to {actual}",
                    expected=digest,
                    actual=actual,
                )
            return self._cache.admit(temp, digest)

    def _holds(self, key: str, digest: str, size: int) -> bool:
        """Whether the bucket holds this artifact, written by berth (its recorded digest and size)."""
        try:
            head = self._call(
                "read", lambda: self._client.head_object(Bucket=self._bucket, Key=key), missing=""
            )
        except BerthError as error:
            if error.code is ErrorCode.ARTIFACT_INVALID:
                return False
            raise
        return bool(head.get("ContentLength") == size and head.get("Metadata", {}).get("sha256") == digest)

    def _call(self, action: str, call: Any, *, missing: str | None = None) -> Any:
        try:
            return call()
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if missing is not None and code in _MISSING:
                raise BerthError(ErrorCode.ARTIFACT_INVALID, missing or "no such object") from None
            raise self._unavailable(action, code or type(error).__name__) from None
        except BotoCoreError as error:
            raise self._unavailable(action, type(error).__name__) from None

    def _unavailable(self, action: str, reason: str) -> BerthError:
        return BerthError(
            ErrorCode.UNAVAILABLE,
            f"the artifact store {self.location} could not {action} ({reason})",
            store=self.location,
            reason=reason,
        )


def _client(options: S3Options) -> S3Client:
    return s3_client(endpoint_url=options.endpoint_url, region=options.region)


def s3_client(*, endpoint_url: str | None, region: str | None) -> S3Client:
    """A boto3 S3 client: credentials from the standard AWS chain, standard retries, bounded waits."""
    session = boto3.session.Session()
    client: S3Client = session.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60),
    )
    return client


def check_sse(sse: str | None) -> None:
    if sse is not None and sse not in _SSE:
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"unknown server-side encryption {sse!r}: use one of {', '.join(sorted(_SSE))}",
        )


def sse_arguments(sse: str | None, kms_key_id: str | None) -> dict[str, Any]:
    """The arguments of an upload that ask for server-side encryption `sse` (with `kms_key_id`)."""
    if not sse:
        return {}
    return {"ServerSideEncryption": sse} | ({"SSEKMSKeyId": kms_key_id} if kms_key_id else {})


def s3_artifact_store(uri: str, options: S3Options) -> S3ArtifactStore:
    """The artifact store an ``s3://bucket/prefix`` URI names, its bucket checked to answer."""
    bucket, prefix = parse_s3_uri(uri)
    check_sse(options.sse)
    store = S3ArtifactStore(bucket, prefix, options)
    store.check()
    return store
