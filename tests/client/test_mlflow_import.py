"""What `berth import mlflow` accepts from a registry it does not trust: the tracking URI, the model
URI, and every path and size in the registry's answers. A real MLflow answers as it should
(tests/e2e/test_mlflow.py); the hostile answers here come from a stand-in transport."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from berth.client.mlflow_import import (
    Limits,
    MlflowRegistry,
    MlflowVersion,
    ModelRef,
    artifact_path,
    check_tracking_uri,
    credentials_from_env,
)
from berth.core.errors import BerthError, ErrorCode

VERSION = MlflowVersion("m", "1", "", {}, "", "")


@pytest.mark.parametrize(
    "uri",
    [
        "file:///tmp/mlruns",
        "ftp://host/x",
        "http://",
        "http://user:secret@host:5000",
        "http://host:5000/?x=1",
        "http://host:5000/#frag",
        "http://host:99999",
        "sqlite:///mlflow.db",
    ],
)
def test_a_tracking_uri_is_http_or_https_without_credentials(uri: str) -> None:
    with pytest.raises(BerthError) as refused:
        check_tracking_uri(uri)
    assert refused.value.code is ErrorCode.INVALID_REQUEST


def test_a_tracking_uri_may_have_a_path_prefix() -> None:
    assert check_tracking_uri("https://mlflow.example.com/team-a/") == "https://mlflow.example.com/team-a"


@pytest.mark.parametrize(
    "uri", ["models:/m", "runs:/abc/model", "models:/m/v1", "models:/m@", "models:/a/b/1"]
)
def test_a_model_uri_names_a_version_or_an_alias(uri: str) -> None:
    with pytest.raises(BerthError) as refused:
        ModelRef.parse(uri)
    assert refused.value.code is ErrorCode.INVALID_REQUEST


def test_model_uris() -> None:
    assert ModelRef.parse("models:/churn model/3") == ModelRef("churn model", "3", None)
    assert ModelRef.parse("models:/churn@champion") == ModelRef("churn", None, "champion")


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/models/m",
        "file:///etc",
        "mlflow-artifacts:/0/../../etc",
        "mlflow-artifacts:/0/./x",
        "mlflow-artifacts:/0\\..\\x",
        "runs:/abc/model",
        None,
    ],
)
def test_an_artifact_uri_is_an_mlflow_artifacts_path_without_tricks(uri: Any) -> None:
    with pytest.raises(BerthError) as refused:
        artifact_path(uri)
    assert refused.value.code is ErrorCode.ARTIFACT_INVALID


def test_artifact_uris() -> None:
    assert artifact_path("mlflow-artifacts:/0/models/m-1/artifacts").as_posix() == "0/models/m-1/artifacts"
    assert artifact_path("mlflow-artifacts://host:5000/0/x").as_posix() == "0/x"


def test_credentials_come_from_mlflows_variables() -> None:
    assert credentials_from_env({"MLFLOW_TRACKING_TOKEN": "t"}) == {"Authorization": "Bearer t"}
    basic = credentials_from_env({"MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "p"})
    assert basic == {"Authorization": "Basic dTpw"}
    assert credentials_from_env({}) == {}


def _registry(
    answer: Callable[[httpx.Request], httpx.Response], limits: Limits | None = None
) -> MlflowRegistry:
    return MlflowRegistry("http://mlflow.test", transport=httpx.MockTransport(answer), limits=limits)


def _files(
    listing: dict[str, list[dict[str, Any]]], body: bytes = b"x"
) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("get-download-uri"):
            return httpx.Response(200, json={"artifact_uri": "mlflow-artifacts:/0/m"})
        if path == "/api/2.0/mlflow-artifacts/artifacts":
            return httpx.Response(200, json={"files": listing.get(request.url.params["path"], [])})
        return httpx.Response(200, content=body)

    return answer


@pytest.mark.parametrize("name", ["../escaped", "a/b", "..", ".", "", "C:x", "a\\b"])
def test_a_listed_name_must_be_one_plain_component(tmp_path: Path, name: str) -> None:
    registry = _registry(_files({"0/m": [{"path": name, "is_dir": False, "file_size": 1}]}))
    with registry, pytest.raises(BerthError) as refused:
        registry.download(VERSION, tmp_path)
    assert refused.value.code is ErrorCode.ARTIFACT_INVALID
    assert not (tmp_path.parent / "escaped").exists()


def test_the_downloads_are_bounded(tmp_path: Path) -> None:
    listing = {"0/m": [{"path": "MLmodel", "is_dir": False}, {"path": "big", "is_dir": False}]}
    registry = _registry(_files(listing, body=b"y" * 4096), Limits(max_bytes=6000))
    with registry, pytest.raises(BerthError) as refused:
        registry.download(VERSION, tmp_path)
    assert refused.value.code is ErrorCode.PAYLOAD_TOO_LARGE


def test_a_folder_nesting_itself_stops(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("get-download-uri"):
            return httpx.Response(200, json={"artifact_uri": "mlflow-artifacts:/0/m"})
        return httpx.Response(200, json={"files": [{"path": "d", "is_dir": True}]})

    with _registry(answer) as registry, pytest.raises(BerthError) as refused:
        registry.download(VERSION, tmp_path)
    assert refused.value.code is ErrorCode.ARTIFACT_INVALID


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"}, ErrorCode.VERSION_NOT_FOUND),
        (401, {}, ErrorCode.UNAUTHENTICATED),
        (403, {}, ErrorCode.FORBIDDEN),
        (400, {"error_code": "INVALID_PARAMETER_VALUE"}, ErrorCode.INVALID_REQUEST),
        (302, {}, ErrorCode.UNAVAILABLE),  # redirects are not followed
        (500, {}, ErrorCode.UNAVAILABLE),
    ],
)
def test_registry_errors_are_stable_codes(status: int, body: dict[str, Any], code: ErrorCode) -> None:
    answer = lambda request: httpx.Response(status, json=body, headers={"location": "http://elsewhere/"})  # noqa: E731
    with _registry(answer) as registry, pytest.raises(BerthError) as refused:
        registry.version(ModelRef("m", "1"))
    assert refused.value.code is code


def test_an_answer_that_is_not_json_or_too_large_is_refused() -> None:
    html = _registry(lambda request: httpx.Response(200, content=b"<html>"))
    with html, pytest.raises(BerthError) as not_json:
        html.version(ModelRef("m", "1"))
    huge = _registry(lambda request: httpx.Response(200, content=b" " * (9 * 1024 * 1024)))
    with huge, pytest.raises(BerthError) as too_large:
        huge.version(ModelRef("m", "1"))
    assert (not_json.value.code, too_large.value.code) == (ErrorCode.UNAVAILABLE, ErrorCode.PAYLOAD_TOO_LARGE)
