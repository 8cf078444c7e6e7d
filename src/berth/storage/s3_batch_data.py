"""Batch jobs' data in S3-compatible object storage (`berth.storage.batch_data.BatchData`), without
Hadoop: listing, footers and row-group reads through pyarrow's ``S3FileSystem`` (ranged GETs, only
the row groups a task is given), writes through boto3 (one PUT or a multipart upload completed at the
end, with the configured server-side encryption, which pyarrow's writes cannot ask for: see
`berth.storage.s3_exports`), copies and deletes through boto3.

The object is picklable, so Spark ships it to its tasks: it travels with the credentials the worker
resolved from the standard AWS chain when it was first pickled (frozen: a temporary session's
credentials expire with it), so executors need no S3 configuration of their own; the SDK clients
are made again in each process that uses them. Errors are berth's: an unreachable or refusing store
is UNAVAILABLE naming the location, never the credentials.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pyarrow import fs as pafs

from berth.core.errors import BerthError, ErrorCode
from berth.storage.batch_data import MARKER, PART, ParquetObject, S3Place, S3Rules
from berth.storage.s3_artifacts import MIB, check_sse, sse_arguments

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CopySourceTypeDef

_HIDDEN: Final = (".", "_")


@dataclass(frozen=True, slots=True, kw_only=True)
class S3BatchOptions:
    rules: S3Rules
    endpoint_url: str | None = None
    region: str | None = None
    sse: str | None = None
    kms_key_id: str | None = None
    multipart_threshold_bytes: int = 64 * MIB


class S3BatchData:
    """`BatchData` on an S3 API; built by the wiring, shipped to Spark tasks by pickling."""

    def __init__(self, options: S3BatchOptions) -> None:
        check_sse(options.sse)
        self._options = options
        self._credentials: tuple[str, str, str | None] | None = None
        self._made = threading.Lock()
        self._client: S3Client | None = None
        self._filesystem: pafs.S3FileSystem | None = None

    # -- pickling: the options and frozen credentials travel, never a client ------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"options": self._options, "credentials": self._frozen_credentials()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["options"])  # type: ignore[misc]
        self._credentials = state["credentials"]

    # -- BatchData -------------------------------------------------------------------------------
    def place(self, uri: str, what: str, *, writing: bool = False) -> S3Place:
        return self._options.rules.check(uri, what, writing=writing)

    def parquet_objects(self, place: S3Place) -> list[ParquetObject]:
        fs = self._fs()
        info = self._call(place, "read", lambda: fs.get_file_info(self._path(place)))
        if info.type == pafs.FileType.File:
            keys = [place.key]
        elif info.type == pafs.FileType.Directory:
            selector = pafs.FileSelector(self._path(place), recursive=True)
            found = self._call(place, "list", lambda: fs.get_file_info(selector))
            start = len(self._path(place)) + 1
            keys = sorted(
                f.path.split("/", 1)[1]
                for f in found
                if f.type == pafs.FileType.File
                and f.path.endswith(".parquet")
                and not any(part.startswith(_HIDDEN) for part in f.path[start:].split("/"))
            )
        else:
            return []
        return [self._footer(S3Place(place.bucket, key)) for key in keys]

    def read(self, place: S3Place, row_groups: Sequence[int] | None = None) -> pa.Table:
        def read() -> pa.Table:
            with self._fs().open_input_file(self._path(place)) as f:
                parquet = pq.ParquetFile(f)
                if row_groups is None:
                    return parquet.read()
                return parquet.read_row_groups(list(row_groups))

        return self._call(place, "read", read)

    def write_parquet(self, place: S3Place, table: pa.Table) -> None:
        with tempfile.TemporaryDirectory(prefix="berth-part-") as folder:
            spool = Path(folder) / "part.parquet"
            pq.write_table(table, spool)
            self.upload(spool, place)

    def upload(self, source: Path, place: S3Place) -> None:
        options = self._options
        transfer = TransferConfig(
            multipart_threshold=options.multipart_threshold_bytes, use_threads=True, max_concurrency=4
        )
        extra = sse_arguments(options.sse, options.kms_key_id)
        self._call(
            place,
            "write",
            lambda: self._s3().upload_file(
                str(source), place.bucket, place.key, ExtraArgs=extra, Config=transfer
            ),
        )

    def check_replaceable(self, target: S3Place) -> None:
        others = [key for key in self._keys(target) if not _ours(target, key)]
        if others:
            raise BerthError(
                ErrorCode.INVALID_JOB_PARAMS,
                f"'output' {target.uri!r} holds objects a batch job did not write ({others[0]!r}…):"
                " refusing to replace them; name a new output",
                output=target.uri,
            )

    def publish(self, staging: S3Place, target: S3Place, marker: bytes) -> None:
        self.check_replaceable(target)
        old = sorted(self._keys(target), key=lambda key: not key.endswith(MARKER))  # the marker first
        for key in old:
            self._delete(S3Place(target.bucket, key))
        extra = sse_arguments(self._options.sse, self._options.kms_key_id)
        for key in sorted(self._keys(staging)):
            self._copy(S3Place(staging.bucket, key), target.child(key.rsplit("/", 1)[-1]), extra)
        done = target.child(MARKER)
        self._call(
            done,
            "write",
            lambda: self._s3().put_object(Bucket=done.bucket, Key=done.key, Body=marker, **extra),
        )

    def discard(self, place: S3Place) -> None:
        for key in self._keys(place):
            self._delete(S3Place(place.bucket, key))

    # -- the rest ----------------------------------------------------------------------------------
    def _footer(self, place: S3Place) -> ParquetObject:
        def read() -> ParquetObject:
            with self._fs().open_input_file(self._path(place)) as f:
                parquet = pq.ParquetFile(f)
                meta = parquet.metadata
                groups = tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
                return ParquetObject(place, groups, tuple(parquet.schema_arrow.names))

        found: ParquetObject = self._call(place, "read", read)
        return found

    def _keys(self, prefix: S3Place) -> list[str]:
        """The keys under `prefix` (as a folder)."""
        paginator = self._s3().get_paginator("list_objects_v2")
        pages = self._call(
            prefix,
            "list",
            lambda: list(
                paginator.paginate(Bucket=prefix.bucket, Prefix=f"{prefix.key}/" if prefix.key else "")
            ),
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def _copy(self, source: S3Place, place: S3Place, extra: dict[str, Any]) -> None:
        copied: CopySourceTypeDef = {"Bucket": source.bucket, "Key": source.key}
        self._call(place, "write", lambda: self._s3().copy(copied, place.bucket, place.key, ExtraArgs=extra))

    def _delete(self, place: S3Place) -> None:
        self._call(place, "delete", lambda: self._s3().delete_object(Bucket=place.bucket, Key=place.key))

    @staticmethod
    def _path(place: S3Place) -> str:
        return f"{place.bucket}/{place.key}".rstrip("/")

    def _frozen_credentials(self) -> tuple[str, str, str | None] | None:
        if self._credentials is None:
            found = boto3.session.Session().get_credentials()
            if found is not None:
                frozen = found.get_frozen_credentials()
                if frozen.access_key and frozen.secret_key:
                    self._credentials = (frozen.access_key, frozen.secret_key, frozen.token)
        return self._credentials

    def _credentials_or_none(self) -> tuple[str | None, str | None, str | None]:
        found = self._frozen_credentials()
        return found if found is not None else (None, None, None)

    def _s3(self) -> S3Client:
        with self._made:
            if self._client is None:
                key, secret, token = self._credentials_or_none()
                session = boto3.session.Session(
                    aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token
                )
                self._client = session.client(
                    "s3",
                    endpoint_url=self._options.endpoint_url,
                    region_name=self._options.region,
                    config=Config(
                        retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60
                    ),
                )
            return self._client

    def _fs(self) -> pafs.S3FileSystem:
        with self._made:
            if self._filesystem is None:
                key, secret, token = self._credentials_or_none()
                self._filesystem = pafs.S3FileSystem(
                    access_key=key,
                    secret_key=secret,
                    session_token=token,
                    endpoint_override=self._options.endpoint_url,
                    region=self._options.region,
                    connect_timeout=10,
                    request_timeout=60,
                    retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=5),
                )
            return self._filesystem

    @staticmethod
    def _call(place: S3Place, action: str, call: Any) -> Any:
        try:
            return call()
        except ClientError as error:
            reason = str(error.response.get("Error", {}).get("Code", "")) or type(error).__name__
        except BotoCoreError as error:
            reason = type(error).__name__
        except OSError as error:  # pyarrow's S3 errors
            reason = str(error).splitlines()[0][:200]
        except pa.ArrowInvalid as error:
            raise BerthError(
                ErrorCode.INVALID_JOB_PARAMS, f"{place.uri} cannot be read as Parquet: {error}"
            ) from None
        raise BerthError(
            ErrorCode.UNAVAILABLE,
            f"object storage could not {action} {place.uri} ({reason})",
            location=place.uri,
            reason=reason,
        )


def _ours(target: S3Place, key: str) -> bool:
    """Whether `key` is one of a batch output's objects: its marker or a part, directly in it."""
    name = key[len(target.key) + 1 :] if target.key else key
    return name == MARKER or PART.fullmatch(name) is not None


def s3_batch_data(options: S3BatchOptions) -> S3BatchData:
    return S3BatchData(options)
