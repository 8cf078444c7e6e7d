"""The management API (``/api/v1``), end to end against a real server on a free port."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest

from berth.control.packaging import package_object
from berth.core.settings import Settings
from berth.runtime.flavors.catalog import FlavorCatalog
from tests.conftest import Trained
from tests.support.servers import server_in_thread


@dataclass(frozen=True)
class Artifacts:
    """Real model files of the `lr` model, and files that are not models."""

    skops: Path
    joblib: Path
    onnx: Path
    corrupt: tuple[Path, ...]
    unsupported: Path


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Artifacts:
    from skl2onnx import to_onnx

    folder = tmp_path_factory.mktemp("artifacts")
    catalog = FlavorCatalog()
    skops_file = package_object(catalog, lr.model, folder / "skops").path
    onnx_file = package_object(catalog, to_onnx(lr.model, lr.x[:1]), folder / "onnx").path
    pickle_file = folder / "lr.joblib"
    joblib.dump(lr.model, pickle_file)
    truncated_onnx = folder / "truncated.onnx"
    truncated_onnx.write_bytes(onnx_file.read_bytes()[: onnx_file.stat().st_size // 2])
    bad_skops = folder / "bad.skops"
    with zipfile.ZipFile(bad_skops, "w") as archive:
        archive.writestr("schema.json", "{not a skops schema")
    truncated_pickle = folder / "truncated.joblib"
    truncated_pickle.write_bytes(pickle_file.read_bytes()[:200])
    corrupt = (truncated_onnx, bad_skops, truncated_pickle)
    unsupported = folder / "notes.csv"
    unsupported.write_text("a,b\n1,2\n")
    return Artifacts(skops_file, pickle_file, onnx_file, corrupt, unsupported)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    home = tmp_path_factory.mktemp("management") / "home"
    settings = Settings(home=home, poll_interval_s=0.1)
    with server_in_thread(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def row_request(x: np.ndarray[Any, Any], name: str = "input-0") -> dict[str, Any]:
    return {
        "inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]
    }


def upload(
    api: httpx.Client, name: str, path: Path, metadata: dict[str, Any] | str | None = None
) -> httpx.Response:
    data = {}
    if metadata is not None:
        data["metadata"] = metadata if isinstance(metadata, str) else json.dumps(metadata)
    with path.open("rb") as handle:
        return api.post(
            f"/api/v1/models/{name}/versions",
            files={"artifact": (path.name, handle, "application/octet-stream")},
            data=data,
        )


def pushed(
    api: httpx.Client, name: str, path: Path, metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = upload(api, name, path, metadata)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["error"], str)
    assert body["error"]


# -- models -------------------------------------------------------------------------------------
def test_create_get_and_patch_a_model(api: httpx.Client) -> None:
    created = api.post(
        "/api/v1/models",
        json={"name": "fraud", "team": "risk", "description": "Card fraud", "tags": {"domain": "cards"}},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "fraud"
    assert body["team"] == "risk"
    assert body["tags"] == {"domain": "cards"}
    assert body["latest_version"] is None
    assert body["aliases"] == {}

    fetched = api.get("/api/v1/models/fraud")
    assert fetched.status_code == 200
    assert fetched.json() == body

    patched = api.patch("/api/v1/models/fraud", json={"description": "Card fraud, v2", "tags": {"pii": "no"}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "Card fraud, v2"
    assert patched.json()["tags"] == {"pii": "no"}
    assert patched.json()["team"] == "risk"
    assert api.get("/api/v1/models/fraud").json()["description"] == "Card fraud, v2"


def test_list_models_filters_and_pages(api: httpx.Client, artifacts: Artifacts) -> None:
    for name, team, tags in [
        ("list-a", "growth", {"kind": "tabular"}),
        ("list-b", "growth", {"kind": "text"}),
        ("list-c", "ops", {"kind": "tabular"}),
    ]:
        created = api.post(
            "/api/v1/models", json={"name": name, "team": team, "tags": tags, "description": f"{name} model"}
        )
        assert created.status_code == 201, created.text
    pushed(api, "list-c", artifacts.onnx)

    def names(**params: Any) -> list[str]:
        response = api.get("/api/v1/models", params={"text": "list-", **params})
        assert response.status_code == 200, response.text
        return [m["name"] for m in response.json()]

    assert names() == ["list-a", "list-b", "list-c"]
    assert names(team="growth") == ["list-a", "list-b"]
    assert names(tag="kind=tabular") == ["list-a", "list-c"]
    assert names(tag=["kind=tabular", "missing=x"]) == []
    assert names(flavor="onnx") == ["list-c"]
    assert names(limit=2) == ["list-a", "list-b"]
    assert names(limit=2, offset=2) == ["list-c"]
    assert names(text="LIST-B model") == ["list-b"]


@pytest.mark.parametrize(
    "params",
    [{"tag": "no-equals-sign"}, {"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "many"}],
)
def test_bad_list_filters_are_400(api: httpx.Client, params: dict[str, Any]) -> None:
    assert_error(api.get("/api/v1/models", params=params), 400, "invalid_request")


def test_duplicate_model_is_409(api: httpx.Client) -> None:
    assert api.post("/api/v1/models", json={"name": "twice"}).status_code == 201
    assert_error(api.post("/api/v1/models", json={"name": "twice"}), 409, "already_exists")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "has space"},
        {"name": "-dash-first"},
        {"name": ""},
        {"name": "x" * 129},
        {"name": "ok", "unknown": 1},
        {"name": "ok", "team": ""},
        {"name": "ok", "tags": {"k": 1}},
        {},
    ],
)
def test_invalid_model_bodies_are_400(api: httpx.Client, body: dict[str, Any]) -> None:
    assert_error(api.post("/api/v1/models", json=body), 400, "invalid_request")


def test_malformed_json_body_is_400(api: httpx.Client) -> None:
    response = api.post("/api/v1/models", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["code"] in {"invalid_request", "invalid_json"}


def test_unknown_model_is_404(api: httpx.Client) -> None:
    for response in (
        api.get("/api/v1/models/ghost"),
        api.patch("/api/v1/models/ghost", json={"description": "x"}),
        api.get("/api/v1/models/ghost/versions"),
        api.get("/api/v1/models/ghost/versions/1"),
        api.get("/api/v1/models/ghost/aliases"),
        api.put("/api/v1/models/ghost/aliases/production", json={"version": 1}),
        api.get("/api/v1/models/ghost/history"),
    ):
        assert_error(response, 404, "model_not_found")


# -- versions -----------------------------------------------------------------------------------
def test_push_returns_the_version_view(api: httpx.Client, artifacts: Artifacts, lr: Trained) -> None:
    metadata = {
        "team": "growth",
        "description": "Pushed by upload",
        "metrics": {"auc": 0.91},
        "params": {"C": 1.0, "solver": "lbfgs"},
        "tags": {"dataset": "2024-01"},
        "docs": "# LR",
        "training_data": "s3://bucket/train.parquet",
        "aliases": ["staging"],
        "pushed_by": "ana",
        "source": "git:abc123",
        "input_example": row_request(lr.x[:2]),
    }
    body = pushed(api, "upload-lr", artifacts.skops, metadata)
    assert body["model"] == "upload-lr"
    assert body["version"] == 1
    assert body["flavor"] == "sklearn"
    assert body["artifact"]["sha256"] == hashlib.sha256(artifacts.skops.read_bytes()).hexdigest()
    assert body["artifact"]["size"] == artifacts.skops.stat().st_size
    assert body["metrics"] == {"auc": 0.91}
    assert body["params"] == {"C": 1.0, "solver": "lbfgs"}
    assert body["tags"] == {"dataset": "2024-01"}
    assert body["docs"] == "# LR"
    assert body["training_data"] == "s3://bucket/train.parquet"
    assert body["aliases"] == ["staging"]
    assert body["pushed_by"] == "ana"
    assert body["source"] == "git:abc123"
    assert body["trusted"] is False
    assert body["input_example"] is not None
    assert [i["name"] for i in body["signature"]["inputs"]] == ["input-0"]
    model = api.get("/api/v1/models/upload-lr").json()
    assert model["team"] == "growth"
    assert model["description"] == "Pushed by upload"
    assert model["latest_version"] == 1
    assert model["aliases"] == {"staging": 1}


def test_versions_by_number_alias_and_latest(api: httpx.Client, artifacts: Artifacts) -> None:
    pushed(api, "refs", artifacts.skops, {"aliases": ["production"]})
    pushed(api, "refs", artifacts.onnx)
    pushed(api, "refs", artifacts.skops, {"aliases": ["staging"]})
    listed = api.get("/api/v1/models/refs/versions").json()
    assert [v["version"] for v in listed] == [1, 2, 3]
    assert [v["flavor"] for v in listed] == ["sklearn", "onnx", "sklearn"]
    for ref, number in [("1", 1), ("2", 2), ("production", 1), ("staging", 3), ("latest", 3)]:
        response = api.get(f"/api/v1/models/refs/versions/{ref}")
        assert response.status_code == 200, response.text
        assert response.json()["version"] == number
    assert api.get("/api/v1/models/refs/aliases").json() == {"production": 1, "staging": 3}
    assert_error(api.get("/api/v1/models/refs/versions/9"), 404, "version_not_found")
    assert_error(api.get("/api/v1/models/refs/versions/canary"), 404, "alias_not_found")
    assert_error(api.get("/api/v1/models/refs/versions/-1"), 400, "invalid_name")


def test_version_numbers_past_the_database_range_are_404(api: httpx.Client, artifacts: Artifacts) -> None:
    pushed(api, "huge", artifacts.skops)
    for number in (2**31, 2**63, 10**30):
        for response in (
            api.get(f"/api/v1/models/huge/versions/{number}"),
            api.get(f"/api/v1/models/huge/versions/{number}/artifact"),
            api.patch(f"/api/v1/models/huge/versions/{number}/metadata", json={"docs": "x"}),
            api.put("/api/v1/models/huge/aliases/production", json={"version": number}),
        ):
            assert_error(response, 404, "version_not_found")
    assert api.get("/api/v1/models/huge/versions/1").status_code == 200


def test_same_artifact_pushed_twice_is_two_versions_of_one_blob(
    api: httpx.Client, artifacts: Artifacts
) -> None:
    first = pushed(api, "twins", artifacts.skops)
    second = pushed(api, "twins", artifacts.skops)
    assert (first["version"], second["version"]) == (1, 2)
    assert first["artifact"]["sha256"] == second["artifact"]["sha256"]


def test_metadata_patch(api: httpx.Client, artifacts: Artifacts) -> None:
    pushed(api, "meta", artifacts.skops, {"metrics": {"auc": 0.8}, "tags": {"a": "1"}})
    response = api.patch(
        "/api/v1/models/meta/versions/1/metadata",
        json={"metrics": {"auc": 0.85, "f1": 0.7}, "feature_importance": {"x0": 0.4}, "docs": "card"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metrics"] == {"auc": 0.85, "f1": 0.7}
    assert body["feature_importance"] == {"x0": 0.4}
    assert body["docs"] == "card"
    assert body["tags"] == {"a": "1"}  # fields not given are kept
    assert api.get("/api/v1/models/meta/versions/1").json()["metrics"] == {"auc": 0.85, "f1": 0.7}
    assert_error(
        api.patch("/api/v1/models/meta/versions/7/metadata", json={"docs": "x"}), 404, "version_not_found"
    )
    assert_error(
        api.patch("/api/v1/models/meta/versions/1/metadata", json={"owner": "x"}), 400, "invalid_request"
    )


@pytest.mark.parametrize(("bad", "name"), [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "minus-inf")])
def test_non_finite_metrics_are_400(api: httpx.Client, artifacts: Artifacts, bad: str, name: str) -> None:
    name = f"finite-{name}"
    pushed(api, name, artifacts.skops)
    patch = api.patch(
        f"/api/v1/models/{name}/versions/1/metadata",
        content=f'{{"metrics": {{"auc": {bad}}}}}'.encode(),
        headers={"content-type": "application/json"},
    )
    assert_error(patch, 400, "invalid_request")
    importance = api.patch(
        f"/api/v1/models/{name}/versions/1/metadata",
        content=f'{{"feature_importance": {{"x0": {bad}}}}}'.encode(),
        headers={"content-type": "application/json"},
    )
    assert_error(importance, 400, "invalid_request")
    push = upload(api, name, artifacts.skops, f'{{"metrics": {{"auc": {bad}}}}}')
    assert push.status_code == 400, push.text
    assert push.json()["code"] in {"invalid_request", "invalid_json"}
    assert len(api.get(f"/api/v1/models/{name}/versions").json()) == 1


def test_artifact_download_matches_its_sha256(api: httpx.Client, artifacts: Artifacts) -> None:
    body = pushed(api, "download", artifacts.onnx)
    response = api.get("/api/v1/models/download/versions/1/artifact")
    assert response.status_code == 200
    assert response.headers["x-berth-sha256"] == body["artifact"]["sha256"]
    assert hashlib.sha256(response.content).hexdigest() == body["artifact"]["sha256"]
    assert response.content == artifacts.onnx.read_bytes()
    assert_error(api.get("/api/v1/models/download/versions/2/artifact"), 404, "version_not_found")


# -- aliases ------------------------------------------------------------------------------------
def test_alias_moves_deletes_and_history(api: httpx.Client, artifacts: Artifacts) -> None:
    pushed(api, "moves", artifacts.skops)
    pushed(api, "moves", artifacts.skops)
    first = api.put(
        "/api/v1/models/moves/aliases/production", json={"version": 1, "actor": "ana", "reason": "launch"}
    )
    assert first.status_code == 200, first.text
    assert first.json()["from_version"] is None
    assert first.json()["to_version"] == 1
    moved = api.put("/api/v1/models/moves/aliases/production", json={"version": 2, "actor": "bo"})
    assert (moved.json()["from_version"], moved.json()["to_version"]) == (1, 2)
    api.put("/api/v1/models/moves/aliases/staging", json={"version": 2})
    assert api.get("/api/v1/models/moves/aliases").json() == {"production": 2, "staging": 2}
    assert api.get("/api/v1/models/moves/versions/2").json()["aliases"] == ["production", "staging"]

    deleted = api.delete("/api/v1/models/moves/aliases/staging", params={"actor": "cy", "reason": "done"})
    assert deleted.status_code == 200, deleted.text
    assert (deleted.json()["from_version"], deleted.json()["to_version"]) == (2, None)
    assert deleted.json()["reason"] == "done"
    assert api.get("/api/v1/models/moves/aliases").json() == {"production": 2}

    history = api.get("/api/v1/models/moves/aliases/production/history").json()
    assert [(e["from_version"], e["to_version"], e["actor"]) for e in history] == [
        (None, 1, "ana"),
        (1, 2, "bo"),
    ]
    assert history[0]["reason"] == "launch"
    everything = api.get("/api/v1/models/moves/history").json()
    assert [(e["alias"], e["to_version"]) for e in everything] == [
        ("production", 1),
        ("production", 2),
        ("staging", 2),
        ("staging", None),
    ]


def test_alias_errors(api: httpx.Client, artifacts: Artifacts) -> None:
    pushed(api, "alias-errors", artifacts.skops)
    assert_error(
        api.put("/api/v1/models/alias-errors/aliases/production", json={"version": 5}),
        404,
        "version_not_found",
    )
    assert_error(api.delete("/api/v1/models/alias-errors/aliases/canary"), 404, "alias_not_found")
    assert_error(
        api.put("/api/v1/models/alias-errors/aliases/latest", json={"version": 1}), 400, "invalid_name"
    )
    assert_error(api.put("/api/v1/models/alias-errors/aliases/1st", json={"version": 1}), 400, "invalid_name")
    for body in ({"version": 0}, {"version": "one"}, {}, {"version": 1, "extra": True}):
        assert_error(
            api.put("/api/v1/models/alias-errors/aliases/production", json=body), 400, "invalid_request"
        )
    assert_error(api.get("/api/v1/models/alias-errors/aliases/canary/history"), 404, "alias_not_found")
    assert api.get("/api/v1/models/alias-errors/history").json() == []


# -- serving --------------------------------------------------------------------------------------
def test_a_pushed_version_is_served_when_the_push_returns(
    api: httpx.Client, artifacts: Artifacts, lr: Trained
) -> None:
    pushed(api, "instant", artifacts.skops, {"aliases": ["production"]})
    answer = api.post("/v2/models/instant/infer", json=row_request(lr.x[:3]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == "1"
    assert answer.json()["outputs"][0]["data"] == lr.model.predict(lr.x[:3]).tolist()

    pushed(api, "instant", artifacts.onnx)
    latest = api.post("/v2/models/instant/versions/latest/infer", json=row_request(lr.x[:3], "X"))
    assert latest.status_code == 200, latest.text
    assert latest.json()["model_version"] == "2"
    labels = next(o for o in latest.json()["outputs"] if o["datatype"] == "INT64")
    assert labels["data"] == lr.model.predict(lr.x[:3]).tolist()

    moved = api.put("/api/v1/models/instant/aliases/production", json={"version": 2})
    assert moved.status_code == 200
    assert (
        api.post("/v2/models/instant/infer", json=row_request(lr.x[:1], "X")).json()["model_version"] == "2"
    )

    serving = api.get("/api/v1/serving").json()
    assert isinstance(serving["generation"], int)
    assert serving["models"]["instant"]["aliases"] == {"production": 2}
    assert serving["models"]["instant"]["latest"] == 2
    loaded = {(row["model"], row["version"]) for row in serving["loaded"] if row["state"] == "ready"}
    assert ("instant", 2) in loaded


# -- bad uploads ----------------------------------------------------------------------------------
def test_pickle_needs_trust(api: httpx.Client, artifacts: Artifacts, lr: Trained) -> None:
    assert_error(upload(api, "pickled", artifacts.joblib), 422, "untrusted_artifact")
    assert_error(api.get("/api/v1/models/pickled"), 404, "model_not_found")  # nothing half-made
    body = pushed(api, "pickled", artifacts.joblib, {"trust_pickle": True})
    assert body["trusted"] is True
    assert body["flavor"] == "sklearn"
    answer = api.post("/v2/models/pickled/infer", json=row_request(lr.x[:2]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == lr.model.predict(lr.x[:2]).tolist()


def test_corrupt_and_unsupported_artifacts_are_422(api: httpx.Client, artifacts: Artifacts) -> None:
    for path in artifacts.corrupt:
        assert_error(upload(api, "broken", path, {"trust_pickle": True}), 422, "artifact_invalid")
    assert_error(upload(api, "broken", artifacts.unsupported), 422, "unsupported_flavor")
    assert_error(api.get("/api/v1/models/broken"), 404, "model_not_found")


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ("{not json", "invalid_json"),
        ('{"metrics": {"auc": "high"}}', "invalid_request"),
        ('{"unknown_field": 1}', "invalid_request"),
        ('{"aliases": ["latest"]}', "invalid_name"),
        ('{"aliases": ["9lives"]}', "invalid_name"),
        ('{"signature": {"inputs": "nope"}}', "signature_mismatch"),
        ("[1, 2]", "invalid_request"),
    ],
)
def test_bad_push_metadata_is_400(api: httpx.Client, artifacts: Artifacts, metadata: str, code: str) -> None:
    assert_error(upload(api, "bad-meta", artifacts.skops, metadata), 400, code)


@pytest.mark.parametrize("name", ["has space", "-x", "a..b", "x" * 129])
def test_push_with_an_invalid_model_name_is_400(api: httpx.Client, artifacts: Artifacts, name: str) -> None:
    assert_error(upload(api, name, artifacts.skops), 400, "invalid_name")


def test_push_without_an_artifact_is_400(api: httpx.Client) -> None:
    response = api.post("/api/v1/models/no-file/versions", data={"metadata": "{}"})
    assert_error(response, 400, "invalid_request")


def test_openapi_documents_the_management_api(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/models",
        "/api/v1/models/{name}",
        "/api/v1/models/{name}/versions",
        "/api/v1/models/{name}/versions/{ref}",
        "/api/v1/models/{name}/versions/{number}/metadata",
        "/api/v1/models/{name}/versions/{number}/artifact",
        "/api/v1/models/{name}/aliases/{alias}",
        "/api/v1/models/{name}/aliases/{alias}/history",
        "/api/v1/models/{name}/history",
        "/api/v1/serving",
    ):
        assert path in paths, path
    assert "multipart/form-data" in paths["/api/v1/models/{name}/versions"]["post"]["requestBody"]["content"]


# -- upload size limit ----------------------------------------------------------------------------
def test_oversized_upload_is_413(tmp_path: Path, artifacts: Artifacts) -> None:
    limit = 2_000
    assert artifacts.skops.stat().st_size > limit
    settings = Settings(home=tmp_path / "home", poll_interval_s=0.1, max_upload_bytes=limit)
    with server_in_thread(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        declared = upload(client, "big", artifacts.skops)
        assert_error(declared, 413, "payload_too_large")

        # the same body streamed without a Content-Length is cut at the limit too
        request = client.build_request(
            "POST",
            "/api/v1/models/big/versions",
            files={"artifact": ("model.skops", artifacts.skops.read_bytes(), "application/octet-stream")},
        )
        body = request.read()

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), 1024):
                yield body[start : start + 1024]

        streamed = client.post(
            "/api/v1/models/big/versions",
            content=chunks(),
            headers={"content-type": request.headers["content-type"]},
        )
        assert_error(streamed, 413, "payload_too_large")
        assert_error(client.get("/api/v1/models/big"), 404, "model_not_found")
        tiny = upload(client, "tiny", artifacts.unsupported)
        assert_error(tiny, 422, "unsupported_flavor")  # under the limit: checked as usual
