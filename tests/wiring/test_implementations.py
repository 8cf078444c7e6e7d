"""The wiring picks each store by the URI the settings give; unknown schemes are refused up front."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from berth.storage.artifacts import LocalArtifactStore
from berth.wiring.implementations import ARTIFACT_STORES, open_artifacts, open_database


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
