"""The wiring picks each store by the URI the settings give; unknown schemes are refused up front."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from berth.control.record_exports import ExportFolder
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from berth.storage.artifacts import LocalArtifactStore
from berth.storage.export_files import LocalExportFiles
from berth.wiring.implementations import (
    ARTIFACT_STORES,
    EXPORT_STORES,
    open_artifacts,
    open_database,
    open_exports,
    record_stream,
)
from tests.support.s3 import S3Server


def test_a_file_uri_opens_the_local_artifact_store(tmp_path: Path) -> None:
    store = open_artifacts(Settings(home=tmp_path, artifact_uri=(tmp_path / "artifacts").as_uri()))

    ref = store.put(io.BytesIO(b"abc"), filename="m.bin")

    assert isinstance(store, LocalArtifactStore)
    assert store.fetch(ref).read_bytes() == b"abc"


@pytest.mark.parametrize("uri", ["/plain/path", "http://host/x", "gs://b/x", "S4://b/x"])
def test_an_artifact_uri_of_another_scheme_is_refused_naming_the_supported_ones(
    uri: str, tmp_path: Path
) -> None:
    with pytest.raises(BerthError) as caught:
        open_artifacts(Settings(home=tmp_path, artifact_uri=uri))

    assert caught.value.code is ErrorCode.INVALID_REQUEST
    assert uri in caught.value.message
    assert all(f"{scheme}://" in caught.value.message for scheme in ARTIFACT_STORES)


def test_a_sqlite_url_opens_the_registry(tmp_path: Path) -> None:
    store = open_database(f"sqlite:///{tmp_path / 'berth.db'}")
    try:
        assert store.list_models() == []
    finally:
        store.close()


@pytest.mark.parametrize("url", ["mysql://root@localhost/test", "oracle://x/y"])
def test_a_database_url_of_another_backend_is_refused(url: str) -> None:
    with pytest.raises(BerthError) as caught:
        open_database(url)

    assert caught.value.code is ErrorCode.INVALID_REQUEST


def test_exports_stay_in_the_home_when_artifacts_are_local(tmp_path: Path) -> None:
    shared = (tmp_path / "shared-artifacts").as_uri()
    for settings in (Settings(home=tmp_path / "home"), Settings(home=tmp_path / "home", artifact_uri=shared)):
        files = open_exports(settings)

        assert isinstance(files, LocalExportFiles)
        assert files.location == (tmp_path / "home" / "exports").resolve().as_uri()


def test_exports_follow_artifacts_into_object_storage_unless_named(tmp_path: Path) -> None:
    on_s3 = Settings(home=tmp_path, artifact_uri="s3://bank-models/berth/")
    assert on_s3.resolved_export_uri == "s3://bank-models/berth/exports"
    assert (
        Settings(home=tmp_path, artifact_uri="s3://bank-models").resolved_export_uri
        == "s3://bank-models/exports"
    )
    named = Settings(home=tmp_path, artifact_uri="s3://bank-models/berth", export_uri="s3://bank-pii/exports")
    assert named.resolved_export_uri == "s3://bank-pii/exports"
    local = (tmp_path / "exports-nfs").as_uri()
    assert (
        Settings(home=tmp_path, artifact_uri="s3://bank-models", export_uri=local).resolved_export_uri
        == local
    )


@pytest.mark.s3
def test_an_s3_export_uri_opens_the_bucket(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    settings = Settings(
        home=tmp_path / "home", artifact_uri=f"s3://{bucket}/team-a", s3_endpoint_url=s3_server.endpoint_url
    )
    folder = ExportFolder(open_exports(settings))

    export_id = folder.write([])

    assert folder.location == f"s3://{bucket}/team-a/exports"
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"team-a/exports/{export_id}.parquet"]
    assert not (tmp_path / "home" / "exports").exists()  # nothing on this host's disk


@pytest.mark.parametrize("uri", ["/plain/path", "gs://b/x"])
def test_an_export_uri_of_another_scheme_is_refused_naming_the_supported_ones(
    uri: str, tmp_path: Path
) -> None:
    with pytest.raises(BerthError) as caught:
        open_exports(Settings(home=tmp_path, export_uri=uri))

    assert caught.value.code is ErrorCode.INVALID_REQUEST
    assert all(f"{scheme}://" in caught.value.message for scheme in EXPORT_STORES)


@pytest.mark.parametrize("uri", ["file://nas/exports", "s3://UPPER/x", "s3://bucket/../x"])
def test_a_malformed_export_uri_is_refused(uri: str, tmp_path: Path) -> None:
    with pytest.raises(BerthError) as caught:
        open_exports(Settings(home=tmp_path, export_uri=uri))

    assert caught.value.code is ErrorCode.INVALID_REQUEST
    assert caught.value.message.startswith(f"export store URI {uri!r}")


def test_the_record_sink_is_the_journal_by_default_or_a_nats_stream() -> None:
    assert record_stream(Settings()) is None
    target = record_stream(Settings(record_sink="nats://127.0.0.1:4222/RECORDS"))

    assert target is not None
    assert (target.servers, target.stream) == (("nats://127.0.0.1:4222",), "RECORDS")


@pytest.mark.parametrize(
    "uri", ["kafka://broker:9092/records", "journal:///elsewhere", "nats://h:1/bad.name"]
)
def test_a_record_sink_of_another_kind_is_refused(uri: str) -> None:
    with pytest.raises(BerthError) as refused:
        record_stream(Settings(record_sink=uri))

    assert refused.value.code is ErrorCode.INVALID_REQUEST
    if uri.startswith("kafka"):
        assert "journal://, nats://" in refused.value.message
