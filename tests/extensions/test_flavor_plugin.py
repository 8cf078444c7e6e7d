"""A flavor from an installed package, found by its entry point, with a file suffix of its own: the
server accepts its files with no change to berth."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from berth.core.settings import Settings
from berth.runtime.flavors.catalog import FlavorCatalog
from tests.extensions.answer_flavor import SUFFIX, install_answer_flavor
from tests.support.servers import server_in_thread


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(install_answer_flavor(tmp_path / "site")))


@pytest.fixture
def answer_file(tmp_path: Path) -> Path:
    path = tmp_path / f"forty-two{SUFFIX}"
    path.write_text(json.dumps({"answer": 42}))
    return path


@pytest.mark.usefixtures("installed")
def test_the_catalog_finds_it_and_its_suffix(answer_file: Path) -> None:
    catalog = FlavorCatalog()

    assert "answer" in catalog.names()
    assert SUFFIX in catalog.file_suffixes()
    assert catalog.for_file(answer_file).name == "answer"


def test_a_flavor_with_malformed_suffixes_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.syspath_prepend(str(install_answer_flavor(tmp_path / "site", with_shouting=True)))

    names = FlavorCatalog().names()

    assert "answer" in names
    assert "shouting" not in names
    assert "'shouting'" in caplog.text
    assert "file_suffixes" in caplog.text


@pytest.mark.usefixtures("installed")
def test_the_server_accepts_and_serves_its_files(settings: Settings, answer_file: Path) -> None:
    with server_in_thread(settings) as url, httpx.Client(base_url=url, timeout=60) as api:
        with answer_file.open("rb") as handle:
            pushed = api.post(
                "/api/v1/models/oracle/versions",
                files={"artifact": ("Forty-Two.ANSWER", handle, "application/octet-stream")},
            )
        assert pushed.status_code == 201, pushed.text
        assert pushed.json()["flavor"] == "answer"

        request = {"inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP64", "data": [1.0, 2.0]}]}
        answer = api.post("/v2/models/oracle/infer", json=request)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == [42.0, 42.0]


def test_without_the_package_its_files_are_refused(settings: Settings, answer_file: Path) -> None:
    with (
        server_in_thread(settings) as url,
        httpx.Client(base_url=url, timeout=60) as api,
        answer_file.open("rb") as handle,
    ):
        refused = api.post(
            "/api/v1/models/oracle/versions",
            files={"artifact": (answer_file.name, handle, "application/octet-stream")},
        )

    assert refused.status_code == 422
    assert refused.json()["code"] == "unsupported_flavor"
