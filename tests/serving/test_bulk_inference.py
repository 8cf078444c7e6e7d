"""Bulk inference end to end: Arrow IPC and Parquet bodies on ``/v2/models/{name}/infer`` of a real
server with authentication and recording on, answered as the same rows in OIP JSON are."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import orjson
import pyarrow as pa
import pytest

import berth
from berth.core.access import Role
from berth.core.codecs.arrow_tables import ARROW_STREAM_TYPE, PARQUET_TYPE, read_arrow_answer
from berth.core.settings import Settings
from berth.storage.security_store import SqlSecurityStore
from berth.storage.sql_records import SqlRecordStore
from tests.conftest import Trained
from tests.records.helpers import eventually
from tests.support.arrow_bodies import arrow_body, feature_columns, parquet_body
from tests.support.servers import server_in_thread

MAX_BODY = 2_000_000
RECORD_ROWS = 25
ARROW = {"content-type": ARROW_STREAM_TYPE}
PARQUET = {"content-type": PARQUET_TYPE}


@dataclass(frozen=True)
class Bulk:
    url: str
    tokens: dict[str, str]
    records: SqlRecordStore

    def post(self, path: str, who: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        auth = {"authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.post(self.url + path, content=content, headers={**headers, **auth}, timeout=60)


@pytest.fixture(scope="module")
def bulk(tmp_path_factory: pytest.TempPathFactory, lr: Trained, frame_pipeline: Trained) -> Iterator[Bulk]:
    home = tmp_path_factory.mktemp("bulk") / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], team="alpha", aliases=["production"])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], team="alpha")
    berth.push(
        frame_pipeline.model, name="churn", home=home, input_example=frame_pipeline.x.head(3), team="alpha"
    )
    settings = Settings(
        home=home,
        poll_interval_s=0.1,
        auth="tokens",
        max_body_bytes=MAX_BODY,
        journal_rotate_s=0.5,
        ingest_interval_s=0.05,
        record_bulk_rows=RECORD_ROWS,
    )
    security = SqlSecurityStore(settings.resolved_database_url)
    try:
        security.set_member("alpha", "alice", Role.PREDICTOR)
        security.set_member("alpha", "mia", Role.MAINTAINER)
        security.create_team("beta")
        security.set_member("beta", "bob", Role.MAINTAINER)
        tokens = {who: security.create_token(who).secret for who in ("alice", "bob", "mia")}
    finally:
        security.close()
    records = SqlRecordStore(settings.resolved_database_url)
    with server_in_thread(settings) as url:
        yield Bulk(url, tokens, records)
    records.close()


def json_body(x: np.ndarray[Any, Any]) -> bytes:
    inputs = [{"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]
    return orjson.dumps({"inputs": inputs})


def json_outputs(response: httpx.Response) -> dict[str, np.ndarray[Any, Any]]:
    assert response.status_code == 200, response.text
    return {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in response.json()["outputs"]}


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text


@pytest.mark.parametrize("path", ["/v2/models/lr/infer", "/v2/models/lr/versions/2/infer"])
def test_an_arrow_body_is_answered_in_arrow_as_json_is(bulk: Bulk, lr: Trained, path: str) -> None:
    x = lr.x[:50]
    answer = bulk.post(path, "alice", arrow_body(feature_columns(x)), ARROW)
    as_json = json_outputs(bulk.post(path, "alice", json_body(x), {"content-type": "application/json"}))

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == ARROW_STREAM_TYPE
    assert answer.headers["berth-model"] == "lr"
    assert answer.headers["berth-model-version"] == ("2" if "versions" in path else "1")
    assert answer.headers["berth-prediction-id"]
    outputs = read_arrow_answer(answer.content)
    assert list(outputs) == list(as_json)
    for name, values in as_json.items():
        np.testing.assert_allclose(outputs[name], values, rtol=1e-6)
    np.testing.assert_array_equal(outputs["predict"], lr.model.predict(x))


def test_a_fixed_size_list_column_and_a_parquet_body_answer_the_same(bulk: Bulk, lr: Trained) -> None:
    x = lr.x[:20]
    listed = pa.table({"input-0": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 20)})
    by_list = read_arrow_answer(bulk.post("/v2/models/lr/infer", "alice", arrow_body(listed), ARROW).content)
    parquet = bulk.post("/v2/models/lr/infer", "alice", parquet_body(feature_columns(x)), PARQUET)

    assert parquet.status_code == 200, parquet.text
    assert parquet.headers["content-type"] == ARROW_STREAM_TYPE
    by_parquet = read_arrow_answer(parquet.content)
    np.testing.assert_array_equal(by_list["predict"], lr.model.predict(x))
    np.testing.assert_array_equal(by_parquet["predict"], lr.model.predict(x))


def test_accept_picks_the_answers_type(bulk: Bulk, lr: Trained) -> None:
    x = lr.x[:5]
    as_json = bulk.post(
        "/v2/models/lr/infer",
        "alice",
        parquet_body(feature_columns(x)),
        {**PARQUET, "accept": "application/json"},
    )
    as_arrow = bulk.post(
        "/v2/models/lr/infer",
        "alice",
        json_body(x),
        {"content-type": "application/json", "accept": f"{ARROW_STREAM_TYPE}, application/json;q=0.5"},
    )

    assert as_json.headers["content-type"] == "application/json"
    assert as_json.json()["model_name"] == "lr"
    np.testing.assert_array_equal(json_outputs(as_json)["predict"], lr.model.predict(x))
    assert as_arrow.status_code == 200, as_arrow.text
    assert as_arrow.headers["content-type"] == ARROW_STREAM_TYPE
    np.testing.assert_array_equal(read_arrow_answer(as_arrow.content)["predict"], lr.model.predict(x))


def test_columns_by_name_reach_a_dataframe_model(bulk: Bulk, frame_pipeline: Trained) -> None:
    rows = frame_pipeline.x.head(30)
    table = pa.Table.from_pandas(rows[["spend", "plan", "age"]], preserve_index=False)  # any order
    answer = bulk.post("/v2/models/churn/infer", "alice", arrow_body(table), ARROW)

    assert answer.status_code == 200, answer.text
    [labels] = read_arrow_answer(answer.content).values()
    assert list(labels) == frame_pipeline.model.predict(rows).tolist()


def test_another_teams_principal_is_refused_as_for_json(bulk: Bulk, lr: Trained) -> None:
    x = lr.x[:3]
    bulk_answer = bulk.post("/v2/models/lr/infer", "bob", arrow_body(feature_columns(x)), ARROW)
    json_answer = bulk.post("/v2/models/lr/infer", "bob", json_body(x), {"content-type": "application/json"})
    anonymous = bulk.post("/v2/models/lr/infer", "", arrow_body(feature_columns(x)), ARROW)

    assert bulk_answer.status_code in (403, 404), bulk_answer.text
    assert (bulk_answer.status_code, bulk_answer.json()["code"]) == (
        json_answer.status_code,
        json_answer.json()["code"],
    )
    assert_error(anonymous, 401, "unauthenticated")


def _nested() -> bytes:
    return arrow_body(pa.table({"a": pa.array([[1.0, 2.0]])}))


def _compressed() -> bytes:
    sink = io.BytesIO()
    table = feature_columns(np.zeros((10, 20), np.float32))
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(table)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"not arrow at all", ARROW, 400, "invalid_request"),
        (b"", ARROW, 400, "invalid_request"),
        (b"PAR1 not parquet PAR1", PARQUET, 400, "invalid_request"),
        (
            arrow_body(feature_columns(np.zeros((10, 20), np.float32)))[:-40],
            ARROW,
            400,
            "invalid_request",
        ),  # truncated
        (arrow_body(feature_columns(np.zeros((10, 19), np.float32))), ARROW, 400, "signature_mismatch"),
        (arrow_body(pa.table({f"f{j}": ["x"] for j in range(20)})), ARROW, 400, "signature_mismatch"),
        (_nested(), ARROW, 400, "unsupported_datatype"),
        (_compressed(), ARROW, 415, "unsupported_media_type"),
        (
            b"ARROW1\x00\x00",
            {"content-type": "application/vnd.apache.arrow.file"},
            415,
            "unsupported_media_type",
        ),
        (arrow_body(feature_columns(np.full((3, 20), np.nan, np.float32))), ARROW, 400, "nan_not_allowed"),
        (arrow_body(feature_columns(np.zeros((0, 20), np.float32))), ARROW, 400, "empty_batch"),
    ],
)
def test_bad_bodies_are_client_errors(
    bulk: Bulk, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    answer = bulk.post("/v2/models/lr/infer", "alice", content, headers)
    assert answer.status_code < 500
    assert answer.json()["code"] == code, answer.text
    assert answer.status_code == status, answer.text


def test_a_body_over_the_limit_is_413(bulk: Bulk) -> None:
    x = np.zeros((MAX_BODY // 80 + 1_000, 20), np.float32)
    for content, headers in (
        (arrow_body(feature_columns(x)), ARROW),
        (parquet_body(feature_columns(np.random.rand(*x.shape))), PARQUET),
    ):
        assert len(content) > MAX_BODY
        assert_error(bulk.post("/v2/models/lr/infer", "alice", content, headers), 413, "payload_too_large")


def test_a_gzip_body_is_read_and_its_inflated_size_limited(bulk: Bulk, lr: Trained) -> None:
    x = lr.x[:30]
    gzipped = {**ARROW, "content-encoding": "gzip"}
    answer = bulk.post("/v2/models/lr/infer", "alice", gzip.compress(arrow_body(feature_columns(x))), gzipped)
    bomb = gzip.compress(arrow_body(feature_columns(np.zeros((MAX_BODY // 80 + 1_000, 20), np.float32))))

    assert answer.status_code == 200, answer.text
    np.testing.assert_array_equal(read_arrow_answer(answer.content)["predict"], lr.model.predict(x))
    assert len(bomb) < MAX_BODY
    assert_error(bulk.post("/v2/models/lr/infer", "alice", bomb, gzipped), 413, "payload_too_large")


@pytest.mark.parametrize("rows", [RECORD_ROWS - 5, RECORD_ROWS + 15])
def test_a_bulk_request_is_one_record_of_its_first_rows(bulk: Bulk, lr: Trained, rows: int) -> None:
    x = lr.x[:rows]
    answer = bulk.post("/v2/models/lr/infer", "alice", arrow_body(feature_columns(x)), ARROW)
    assert answer.status_code == 200, answer.text
    pid = answer.headers["berth-prediction-id"]

    [stored] = eventually(lambda: bulk.records.get(pid), bool)
    record = stored.record
    kept = min(rows, RECORD_ROWS)
    assert (record.model, record.version) == ("lr", 1)
    assert record.inputs["input-0"]["shape"] == [kept, 20]
    np.testing.assert_allclose(record.inputs["input-0"]["data"], x[:kept].ravel(), rtol=1e-6)
    assert record.outputs["predict"]["data"] == lr.model.predict(x[:kept]).tolist()
    cut = {"rows": rows} if rows > RECORD_ROWS else None
    assert record.inputs["input-0"].get("parameters") == cut
    assert record.outputs["predict"].get("parameters") == cut


def test_an_endpoint_takes_bulk_bodies(bulk: Bulk, lr: Trained) -> None:
    spec = {"name": "lr-scoring", "team": "alpha", "targets": [{"target": "lr@production"}]}
    created = httpx.post(
        bulk.url + "/api/v1/endpoints", json=spec, headers={"authorization": f"Bearer {bulk.tokens['mia']}"}
    )
    assert created.status_code == 201, created.text
    x = lr.x[:10]

    answer = eventually(
        lambda: bulk.post("/v2/models/lr-scoring/infer", "alice", parquet_body(feature_columns(x)), PARQUET),
        lambda r: r.status_code == 200,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["berth-endpoint"] == "lr-scoring"
    assert answer.headers["berth-model"] == "lr"
    np.testing.assert_array_equal(read_arrow_answer(answer.content)["predict"], lr.model.predict(x))
