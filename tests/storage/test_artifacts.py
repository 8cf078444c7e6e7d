"""The local artifact store's own behaviour (the shared contract is in test_artifact_contract.py):
where it keeps files, and which ``file://`` URIs name it."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.storage.artifacts import LocalArtifactStore, local_artifact_store


def test_an_artifact_is_a_file_named_by_its_digest(tmp_path: Path) -> None:
    artifacts = LocalArtifactStore(tmp_path / "artifacts")
    digest = hashlib.sha256(b"a model").hexdigest()

    ref = artifacts.put(io.BytesIO(b"a model"), filename="model.skops")

    path = artifacts.fetch(ref)
    assert path == artifacts.root / "sha256" / digest[:2] / digest
    assert ref.uri == path.as_uri()


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
