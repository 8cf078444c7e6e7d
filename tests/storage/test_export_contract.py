"""The export-folder contract, run on every export store: a local folder (``file://``) and S3-compatible
object storage (``s3://``, a real S3 API server started by the fixture, with server-side encryption).

Writing, listing, row counts, sizes, retention, deletion, scrubbing (erasure) and id checks behave the
same whichever store the settings name; what each store holds is checked behind its back.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from berth.control.record_exports import ROWS_PER_GROUP, SCHEMA, ExportFolder
from berth.core.errors import BerthError, ErrorCode
from berth.core.records import Feedback, StoredRecord
from berth.storage.export_files import LocalExportFiles
from berth.storage.s3_exports import S3ExportFiles, S3ExportOptions, s3_export_files
from tests.records.builders import record
from tests.support.s3 import S3Server

SSE = "AES256"


@dataclass(frozen=True)
class Backend:
    """An export folder on one store, and how a test reaches behind it."""

    folder: ExportFolder
    held: Callable[[], list[str]]
    """The names of every file (object) the store holds, whatever they are."""
    put: Callable[[str, bytes], None]
    """Put a file into the store, past berth."""
    spools: Callable[[], list[Path]]
    """The local spool files left over."""
    encryption: Callable[[str], str | None]
    """The server-side encryption a file is stored with (None: not encrypted, or a local disk)."""
    sse: str | None
    """The server-side encryption the store was told to ask for."""


def _local(root: Path) -> Backend:
    folder = root / "exports"
    files = LocalExportFiles(folder)
    return Backend(
        ExportFolder(files),
        held=lambda: sorted(p.name for p in folder.iterdir()),
        put=lambda name, data: (folder / name).write_bytes(data) and None,
        spools=lambda: sorted(folder.glob(".*.spool")),
        encryption=lambda _: None,
        sse=None,
    )


def _s3(server: S3Server, root: Path) -> Backend:
    bucket = server.new_bucket()
    client = server.client()
    prefix = "team/artifacts/exports"
    spool = root / "spool"
    files = S3ExportFiles(
        bucket, prefix, S3ExportOptions(spool_dir=spool, endpoint_url=server.endpoint_url, sse=SSE)
    )

    def held() -> list[str]:
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return sorted(o["Key"].removeprefix(f"{prefix}/") for o in listed)

    return Backend(
        ExportFolder(files),
        held=held,
        put=lambda name, data: client.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=data) and None,
        spools=lambda: sorted(spool.iterdir()),
        encryption=lambda name: client.head_object(Bucket=bucket, Key=f"{prefix}/{name}").get(
            "ServerSideEncryption"
        ),
        sse=SSE,
    )


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "file":
        return _local(tmp_path)
    return _s3(request.getfixturevalue("s3_server"), tmp_path)


def _records(n: int, entities: Iterable[str | None] = ("cust-1", "cust-2", None)) -> list[StoredRecord]:
    keys = list(entities)
    stored = []
    for i in range(n):
        made = record(i, entity=keys[i % len(keys)])
        feedback = Feedback(made.prediction_id, made.recorded_at, label="a") if i % 2 == 0 else None
        stored.append(StoredRecord(made, feedback))
    return stored


def _downloaded(folder: ExportFolder, export_id: str) -> bytes:
    with folder.open(export_id) as reader:
        data = b"".join(reader)
        assert reader.size == len(data)
    return data


def _entities(data: bytes) -> list[str | None]:
    keys: list[str | None] = pq.read_table(io.BytesIO(data)).column("entity_key").to_pylist()
    return keys


def test_an_export_is_written_listed_counted_and_downloaded(backend: Backend) -> None:
    progress: list[int] = []
    before = datetime.now(UTC) - timedelta(seconds=1)  # object stores keep whole seconds

    export_id = backend.folder.write(_records(30), progress.append)

    info = backend.folder.info(export_id)
    assert (info.id, info.rows) == (export_id, 30)
    assert before <= info.created_at <= datetime.now(UTC)
    assert backend.folder.size(export_id) == info.bytes > 0
    assert [e.id for e in backend.folder.list_all()] == [export_id]
    data = _downloaded(backend.folder, export_id)
    assert len(data) == info.bytes
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.equals(SCHEMA)
    assert table.num_rows == 30
    assert table.column("feedback_label").to_pylist()[:2] == ["a", None]
    assert progress[-1] == 30
    assert backend.held() == [f"{export_id}.parquet"]
    assert backend.spools() == []


def test_an_empty_export_is_a_valid_file(backend: Backend) -> None:
    export_id = backend.folder.write([])

    assert backend.folder.info(export_id).rows == 0
    assert pq.read_table(io.BytesIO(_downloaded(backend.folder, export_id))).num_rows == 0


def test_many_row_groups(backend: Backend) -> None:
    export_id = backend.folder.write(_records(ROWS_PER_GROUP + 7))

    assert backend.folder.info(export_id).rows == ROWS_PER_GROUP + 7
    data = _downloaded(backend.folder, export_id)
    assert pq.ParquetFile(io.BytesIO(data)).num_row_groups == 2


def test_exports_are_listed_newest_first(backend: Backend) -> None:
    first = backend.folder.write(_records(1))
    second = backend.folder.write(_records(2))

    assert [e.id for e in backend.folder.list_all()] == sorted([first, second], reverse=True)


def test_over_the_quota_is_refused_and_leaves_nothing(backend: Backend) -> None:
    with pytest.raises(BerthError) as caught:
        backend.folder.write(_records(50), max_bytes=100)

    assert caught.value.code is ErrorCode.EXPORT_QUOTA_EXCEEDED
    assert backend.held() == []
    assert backend.spools() == []
    assert backend.folder.list_all() == []


def test_a_failing_source_leaves_nothing(backend: Backend) -> None:
    def failing() -> Iterator[StoredRecord]:
        yield from _records(ROWS_PER_GROUP + 1)
        raise ConnectionResetError("the database went away")

    with pytest.raises(ConnectionResetError):
        backend.folder.write(failing())

    assert backend.held() == []
    assert backend.spools() == []


def test_retention_deletes_what_was_written_before_the_cutoff(backend: Backend) -> None:
    old = backend.folder.write(_records(3))
    time.sleep(1.1)  # object stores date objects to the second
    new = backend.folder.write(_records(3))
    cutoff = backend.folder.info(new).created_at

    assert backend.folder.delete_older_than(cutoff) == [old]

    assert [e.id for e in backend.folder.list_all()] == [new]
    assert backend.held() == [f"{new}.parquet"]  # nothing else either (no folder marker)
    assert backend.folder.delete_older_than(cutoff) == []
    assert backend.folder.delete_older_than(cutoff + timedelta(seconds=1)) == [new]
    assert backend.held() == []


def test_delete(backend: Backend) -> None:
    export_id = backend.folder.write(_records(3))
    kept = backend.folder.write(_records(3))

    backend.folder.delete(export_id)

    assert backend.held() == [f"{kept}.parquet"]
    assert backend.folder.size(export_id) == 0
    for call in (backend.folder.info, backend.folder.open, backend.folder.delete):
        with pytest.raises(BerthError) as caught:
            call(export_id)
        assert caught.value.code is ErrorCode.EXPORT_NOT_FOUND
    backend.folder.discard(export_id)  # gone already: nothing to do
    backend.folder.discard(kept)
    assert backend.held() == []


def test_scrub_rewrites_exports_without_an_entity(backend: Backend) -> None:
    mixed = backend.folder.write(_records(ROWS_PER_GROUP + 9))
    other = backend.folder.write(_records(4, entities=["cust-2", None]))
    other_bytes = _downloaded(backend.folder, other)
    before = [k for k in _entities(_downloaded(backend.folder, mixed)) if k == "cust-1"]

    assert backend.folder.scrub("cust-1") == len(before) > 0

    kept = _entities(_downloaded(backend.folder, mixed))
    assert "cust-1" not in kept
    assert set(kept) == {"cust-2", None}  # rows without an entity key stay
    assert len(kept) == ROWS_PER_GROUP + 9 - len(before)
    assert backend.folder.info(mixed).rows == len(kept)
    assert _downloaded(backend.folder, other) == other_bytes  # untouched
    assert backend.folder.scrub("cust-1") == 0
    assert backend.folder.scrub("nobody") == 0
    assert backend.held() == sorted([f"{mixed}.parquet", f"{other}.parquet"])
    assert backend.spools() == []


def test_extend_adds_columns_a_row_group_at_a_time(backend: Backend) -> None:
    """What the point-in-time join does to an export: columns added, rows and encryption kept."""
    export_id = backend.folder.write(_records(ROWS_PER_GROUP + 3))
    seen: list[int] = []
    groups: list[int] = []

    def columns_of(table: pa.Table) -> dict[str, pa.Array]:
        groups.append(table.num_rows)
        return {
            "view.flag": pa.array([[row % 2 == 0] for row in range(table.num_rows)], pa.list_(pa.bool_()))
        }

    backend.folder.extend(export_id, columns_of, seen.append)

    assert groups == [ROWS_PER_GROUP, 3]
    assert seen == [ROWS_PER_GROUP, ROWS_PER_GROUP + 3]
    table = pq.read_table(io.BytesIO(_downloaded(backend.folder, export_id)))
    assert table.column_names == [*SCHEMA.names, "view.flag"]
    assert table.column("view.flag").to_pylist()[:3] == [[True], [False], [True]]
    assert backend.folder.info(export_id).rows == ROWS_PER_GROUP + 3
    assert backend.encryption(f"{export_id}.parquet") == backend.sse
    assert backend.held() == [f"{export_id}.parquet"]
    assert backend.spools() == []


def test_a_download_under_way_reads_the_file_it_opened(backend: Backend) -> None:
    export_id = backend.folder.write(_records(60))
    original = _downloaded(backend.folder, export_id)

    with backend.folder.open(export_id) as reader:
        assert backend.folder.scrub("cust-1") == 20  # replaced meanwhile
        assert b"".join(reader) == original

    assert len(_entities(_downloaded(backend.folder, export_id))) == 40


def test_exports_and_their_rewrites_are_encrypted_where_the_store_encrypts(backend: Backend) -> None:
    export_id = backend.folder.write(_records(6))
    assert backend.encryption(f"{export_id}.parquet") == backend.sse

    assert backend.folder.scrub("cust-1") == 2
    assert backend.encryption(f"{export_id}.parquet") == backend.sse


def test_files_that_are_not_exports_are_left_alone(backend: Backend) -> None:
    foreign = ["notes.txt", "20261121T100000Z-abcdef12.parquet.tmp", "20261121T100000Z-ABCDEF12.parquet"]
    for name in foreign:
        backend.put(name, b"not an export")
    export_id = backend.folder.write(_records(3))

    assert [e.id for e in backend.folder.list_all()] == [export_id]
    assert backend.folder.scrub("cust-1") == 1
    assert backend.folder.delete_older_than(datetime.now(UTC) + timedelta(days=1)) == [export_id]
    assert backend.held() == sorted(foreign)


@pytest.mark.parametrize(
    "export_id",
    [
        "../../etc/passwd",
        "x",
        "",
        "20261121T100000Z-zzzzzzzz",
        "20261121T100000Z-abcdef12\n",
        "20261121T100000Z-abcdef12/../../x",
        "../20261121T100000Z-abcdef12",
    ],
)
def test_only_export_ids_name_files(backend: Backend, export_id: str) -> None:
    backend.put("20261121T100000Z-abcdef12.parquet", b"kept")

    assert backend.folder.size(export_id) == 0
    for call in (backend.folder.info, backend.folder.open, backend.folder.delete, backend.folder.discard):
        with pytest.raises(BerthError) as caught:
            call(export_id)
        assert caught.value.code is ErrorCode.INVALID_REQUEST
    assert backend.held() == ["20261121T100000Z-abcdef12.parquet"]


# -- the S3 store alone ------------------------------------------------------------------------------


@pytest.mark.s3
def test_an_s3_export_store_needs_its_bucket(s3_server: S3Server, tmp_path: Path) -> None:
    options = S3ExportOptions(spool_dir=tmp_path, endpoint_url=s3_server.endpoint_url)
    with pytest.raises(BerthError) as caught:
        s3_export_files("s3://no-such-bucket-here/exports", options)

    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert caught.value.details["store"] == "s3://no-such-bucket-here/exports"


@pytest.mark.s3
def test_an_s3_export_store_refuses_unknown_encryption(s3_server: S3Server, tmp_path: Path) -> None:
    options = S3ExportOptions(spool_dir=tmp_path, endpoint_url=s3_server.endpoint_url, sse="rot13")
    with pytest.raises(BerthError) as caught:
        s3_export_files(f"s3://{s3_server.new_bucket()}/exports", options)

    assert caught.value.code is ErrorCode.INVALID_REQUEST
