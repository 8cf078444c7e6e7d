"""Record exports in S3-compatible object storage (``s3://bucket/prefix``): `S3ExportFiles`.

Listing, sizes, times and the reads of Parquet (footers and row groups, by ranged GETs) go through
pyarrow's own `S3FileSystem`, so the export folder (`berth.control.record_exports`) reads an object
as it reads a local file. Three things go through boto3 instead, for reasons checked against
pyarrow 26:

- **Writing.** pyarrow's S3 file system cannot ask for server-side encryption: the only headers its
  writes set are ACL, Cache-Control, Content-Type, Content-Language and Expires (Arrow's
  ``ObjectMetadataSetter``). A bucket whose policy refuses PUTs without
  ``x-amz-server-side-encryption`` would refuse it, and an ``aws:kms`` key named in the settings would
  not be used. Its output streams cannot be aborted from Python either: closing one after an error
  publishes what was written. So a file is written to a local spool (an export at most its quota
  share) and uploaded by boto3 with the encryption artifacts get (`Settings.s3_sse`): one PUT, or a
  multipart upload completed at the end, so readers see the whole object or none, and a failed export
  never reaches the bucket.
- **Deleting.** pyarrow's ``delete_file`` puts an empty "directory" marker object (``<prefix>/``)
  after every delete, so that the folder seems to stay: an unencrypted PUT again. A delete is one
  DeleteObject.
- **Downloading.** pyarrow reads an object with one ranged GET per read: a download running while
  erasure rewrites the export could mix the old object's bytes with the new one's. A download is one
  GET, streamed: the object as it was when the GET began.

Credentials and region come from the standard AWS chain in both SDKs (environment, profile, web
identity, instance or container credentials); `Settings.s3_endpoint_url` (or ``AWS_ENDPOINT_URL``)
names a non-AWS endpoint for both. Errors are berth's: a store that cannot be reached or refuses is
UNAVAILABLE, naming the location, never the credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError
from pyarrow import fs as pafs

from berth.core.errors import BerthError, ErrorCode
from berth.storage.export_files import ByteStream, new_spool, remove_stale_spools
from berth.storage.s3_artifacts import MIB, check_sse, s3_client, sse_arguments
from berth.storage.s3_uris import parse_s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING: Final = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True, slots=True, kw_only=True)
class S3ExportOptions:
    """How exports reach the object store; what is left out comes from the standard AWS chain."""

    spool_dir: Path
    """The local folder files are written in before they are uploaded."""
    endpoint_url: str | None = None
    region: str | None = None
    sse: str | None = None
    """Server-side encryption of every export written: AES256, aws:kms or aws:kms:dsse."""
    kms_key_id: str | None = None
    multipart_threshold_bytes: int = 64 * MIB
    multipart_chunk_bytes: int = 16 * MIB


class S3ExportFiles:
    """Files under one prefix of one bucket (`berth.storage.export_files.ExportFiles`)."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        options: S3ExportOptions,
        *,
        client: S3Client | None = None,
        filesystem: Any = None,
    ) -> None:
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._client = client or s3_client(endpoint_url=options.endpoint_url, region=options.region)
        self._filesystem = filesystem or pafs.S3FileSystem(
            endpoint_override=options.endpoint_url,
            region=options.region,
            connect_timeout=10,
            request_timeout=60,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=5),
        )
        self._spool_dir = options.spool_dir
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_spools(self._spool_dir)
        self._extra = sse_arguments(options.sse, options.kms_key_id)
        self._transfer = TransferConfig(
            multipart_threshold=options.multipart_threshold_bytes,
            multipart_chunksize=options.multipart_chunk_bytes,
            use_threads=True,
            max_concurrency=4,
        )

    @property
    def location(self) -> str:
        return f"s3://{self.root}"

    @property
    def filesystem(self) -> pafs.FileSystem:
        return self._filesystem

    @property
    def root(self) -> str:
        return f"{self._bucket}/{self._prefix}" if self._prefix else self._bucket

    def key(self, name: str) -> str:
        return f"{self._prefix}/{name}" if self._prefix else name

    def check(self) -> None:
        """That the bucket exists and answers (UNAVAILABLE otherwise), through the file system that
        reads exports."""
        try:
            found = self._filesystem.get_file_info(self._bucket)
        except OSError as error:
            raise _unavailable(self.location, "reach", type(error).__name__) from None
        if found.type == pafs.FileType.NotFound:
            raise _unavailable(self.location, "reach", "NoSuchBucket")

    def spool(self, name: str) -> Path:
        return new_spool(self._spool_dir, name)

    def publish(self, spool: Path, name: str) -> None:
        try:
            self._call(
                "store",
                lambda: self._client.upload_file(
                    str(spool), self._bucket, self.key(name), ExtraArgs=self._extra, Config=self._transfer
                ),
            )
        finally:
            spool.unlink(missing_ok=True)

    def open(self, name: str) -> tuple[ByteStream, int]:
        try:
            answer = self._call(
                "read", lambda: self._client.get_object(Bucket=self._bucket, Key=self.key(name))
            )
        except ClientError:
            raise FileNotFoundError(f"{self.location}/{name}") from None
        return _Body(answer["Body"], f"{self.location}/{name}"), int(answer["ContentLength"])

    def delete(self, name: str) -> None:
        self._call("delete", lambda: self._client.delete_object(Bucket=self._bucket, Key=self.key(name)))

    def _call(self, action: str, call: Any) -> Any:
        """`call()`, its errors berth's (a missing object's ClientError is raised as it is)."""
        try:
            return call()
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise
            raise _unavailable(self.location, action, code or type(error).__name__) from None
        except BotoCoreError as error:
            raise _unavailable(self.location, action, type(error).__name__) from None


def _unavailable(location: str, action: str, reason: str) -> BerthError:
    return BerthError(
        ErrorCode.UNAVAILABLE,
        f"the export store {location} could not {action} ({reason})",
        store=location,
        reason=reason,
    )


class _Body:
    """An object's body as a `ByteStream`: what goes wrong while it is read is UNAVAILABLE."""

    def __init__(self, body: Any, location: str) -> None:
        self._body = body
        self._location = location

    def read(self, size: int, /) -> bytes:
        try:
            data: bytes = self._body.read(size)
        except BotoCoreError as error:
            raise _unavailable(self._location, "read", type(error).__name__) from None
        return data

    def close(self) -> None:
        self._body.close()


def s3_export_files(uri: str, options: S3ExportOptions) -> S3ExportFiles:
    """The export store an ``s3://bucket/prefix`` URI names, its bucket checked to answer."""
    bucket, prefix = parse_s3_uri(uri, "export store")
    check_sse(options.sse)
    files = S3ExportFiles(bucket, prefix, options)
    files.check()
    return files
