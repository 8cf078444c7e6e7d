"""Data that batch jobs read and write in S3-compatible object storage: `BatchData` is the contract,
`berth.storage.s3_batch_data` the implementation (boto3 and pyarrow's S3 file system), which the
wiring builds from the settings (`Settings.batch_s3_allow`, the ``s3_*`` settings, the standard AWS
credentials). A job names objects by ``s3://bucket/key`` URIs and gets them checked here: only a
location under one the operator allowed is reached, never another bucket or endpoint, and nothing
is written inside the artifacts' or exports' prefix.

An implementation is picklable: Spark ships it to its tasks, each of which reads its share of the
input and writes its part of the output itself (`berth.control.jobs.batch_score_s3`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from berth.core.errors import BerthError, ErrorCode
from berth.storage.s3_uris import parse_s3_uri

if TYPE_CHECKING:
    import pyarrow as pa

MARKER: Final = "_SUCCESS"
"""The object written last into a published output folder: its parts are complete when it exists."""
PART: Final = re.compile(r"part-[0-9]{5}\.parquet")
"""How the parts of an output folder are named (``part-00000.parquet`` …)."""


@dataclass(frozen=True, slots=True)
class S3Place:
    """An object, or a prefix ("folder"), in a bucket."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def child(self, name: str) -> S3Place:
        return S3Place(self.bucket, f"{self.key}/{name}" if self.key else name)

    def sibling(self, name: str) -> S3Place:
        parent = self.key.rpartition("/")[0]
        return S3Place(self.bucket, f"{parent}/{name}" if parent else name)

    def within(self, other: S3Place) -> bool:
        """Whether this is `other` or lies under it (judged on whole path segments)."""
        return self.bucket == other.bucket and (
            not other.key or self.key == other.key or self.key.startswith(other.key + "/")
        )


def parse_place(uri: str, what: str) -> S3Place:
    """An ``s3://bucket/key`` URI as a place (INVALID_JOB_PARAMS when it is not one)."""
    bucket, key = parse_s3_uri(uri, what, ErrorCode.INVALID_JOB_PARAMS)
    return S3Place(bucket, key)


@dataclass(frozen=True, slots=True)
class S3Rules:
    """Where batch jobs may go: the allowed locations (`Settings.batch_s3_allow`), and the prefixes
    never written (the artifacts', the exports')."""

    allowed: tuple[S3Place, ...] = ()
    protected: tuple[S3Place, ...] = ()

    @classmethod
    def parse(cls, allow: str, protected: Sequence[str] = ()) -> S3Rules:
        """From comma-separated ``s3://bucket[/prefix]`` locations; `protected` are URIs of any scheme
        (those that are not ``s3://`` protect nothing here)."""
        allowed = tuple(
            parse_place(entry.strip(), "batch_s3_allow") for entry in allow.split(",") if entry.strip()
        )
        kept = tuple(parse_place(uri, "protected") for uri in protected if uri.startswith("s3://"))
        return cls(allowed, kept)

    def check(self, uri: str, what: str, *, writing: bool) -> S3Place:
        """The place `uri` names, when jobs may reach it (FORBIDDEN otherwise)."""
        place = parse_place(uri, what)
        if not any(place.within(allowed) for allowed in self.allowed):
            raise BerthError(
                ErrorCode.FORBIDDEN,
                f"'{what}' {uri!r} is not in a location batch jobs may reach (setting batch_s3_allow:"
                f" {', '.join(a.uri for a in self.allowed) or 'none'})",
                location=uri,
            )
        if writing and any(place.within(p) or p.within(place) for p in self.protected):
            raise BerthError(
                ErrorCode.FORBIDDEN,
                f"'{what}' {uri!r} overlaps where berth keeps artifacts or exports: never written by jobs",
                location=uri,
            )
        return place


@dataclass(frozen=True, slots=True)
class ParquetObject:
    """One Parquet object of an input, with the rows of each of its row groups (from its footer)."""

    place: S3Place
    row_groups: tuple[int, ...]
    columns: tuple[str, ...]

    @property
    def rows(self) -> int:
        return sum(self.row_groups)


class BatchData(Protocol):
    """Parquet (and CSV) objects in S3-compatible storage, for batch jobs; picklable."""

    def place(self, uri: str, what: str, *, writing: bool = False) -> S3Place:
        """`uri` checked against the rules (FORBIDDEN outside them, INVALID_JOB_PARAMS when malformed)."""
        ...

    def parquet_objects(self, place: S3Place) -> list[ParquetObject]:
        """The object at `place`, or the Parquet objects under it (hidden ``.``/``_`` names skipped),
        in key order, with their footers' row groups; empty when there are none."""
        ...

    def read(self, place: S3Place, row_groups: Sequence[int] | None = None) -> pa.Table:
        """The object's rows (only `row_groups` when given)."""
        ...

    def write_parquet(self, place: S3Place, table: pa.Table) -> None:
        """`table` as one Parquet object, put whole (with the server-side encryption configured)."""
        ...

    def upload(self, source: Path, place: S3Place) -> None:
        """A local file put whole at `place`."""
        ...

    def check_replaceable(self, target: S3Place) -> None:
        """That `target` holds nothing but an earlier batch output (INVALID_JOB_PARAMS otherwise)."""
        ...

    def publish(self, staging: S3Place, target: S3Place, marker: bytes) -> None:
        """Replace the output folder `target` by the parts under `staging`: the old output's objects
        deleted (its marker first), the parts copied in, then `MARKER` written with `marker`."""
        ...

    def discard(self, place: S3Place) -> None:
        """Delete every object under `place`."""
        ...
