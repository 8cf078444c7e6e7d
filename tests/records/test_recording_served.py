"""Recording through a real server: ids, entity keys, what a record holds, sampling, shadows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import berth
from berth.core.records import RecordQuery
from berth.core.settings import Settings
from berth.storage.journal import journal_lag, segments
from berth.storage.sql_records import SqlRecordStore
from tests.conftest import Trained
from tests.records.helpers import all_records, eventually
from tests.support.servers import server_in_thread


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, lr: Trained, frame_pipeline: Trained) -> Path:
    home = tmp_path_factory.mktemp("recording") / "home"
    for _ in range(2):
        berth.push(frame_pipeline.model, name="churn", home=home, input_example=frame_pipeline.x.head(3))
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=["production"])
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3])
    return home


@pytest.fixture(scope="module")
def served(home: Path) -> Iterator[tuple[str, SqlRecordStore]]:
    settings = Settings(home=home, poll_interval_s=0.1, journal_rotate_s=0.5, ingest_interval_s=0.05)
    store = SqlRecordStore(settings.resolved_database_url)
    with server_in_thread(settings) as url:
        yield url, store
    store.close()


def body(x: np.ndarray[Any, Any], **extra: Any) -> dict[str, Any]:
    inputs = [{"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]
    return {"inputs": inputs, **extra}


def test_a_prediction_is_recorded_with_its_id(served: tuple[str, SqlRecordStore], lr: Trained) -> None:
    url, store = served
    answer = httpx.post(f"{url}/v2/models/lr/infer", json=body(lr.x[:2], id="req-1"), timeout=30)

    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == "req-1"
    assert answer.headers["berth-prediction-id"] == "req-1"
    [stored] = eventually(lambda: store.get("req-1"), bool)
    record = stored.record
    assert (record.endpoint, record.model, record.version, record.variant) == ("lr", "lr", 1, "")
    assert record.inputs["input-0"]["shape"] == [2, 20]
    assert np.allclose(record.inputs["input-0"]["data"], lr.x[:2].ravel())
    assert record.outputs == {
        t["name"]: {k: t[k] for k in ("datatype", "shape", "data")} for t in answer.json()["outputs"]
    }
    assert record.model_inputs is None
    assert 0 < record.latency_s < 30
    assert record.entity_key is None
    assert record.shadow_of is None


def test_an_id_is_generated_and_an_entity_key_recorded(
    served: tuple[str, SqlRecordStore], lr: Trained
) -> None:
    url, store = served
    by_header = httpx.post(
        f"{url}/v2/models/lr/versions/2/infer",
        json=body(lr.x[:1]),
        headers={"berth-entity-key": "c-1"},
        timeout=30,
    )
    by_parameter = httpx.post(
        f"{url}/v2/models/lr/infer", json=body(lr.x[:1], parameters={"entity_key": "c-2"}), timeout=30
    )

    pids = [r.json()["id"] for r in (by_header, by_parameter)]
    assert all(len(p) == 32 and int(p, 16) >= 0 for p in pids)
    assert pids[0] != pids[1]
    assert by_header.headers["berth-prediction-id"] == pids[0]
    first = eventually(lambda: store.get(pids[0]), bool)[0].record
    second = eventually(lambda: store.get(pids[1]), bool)[0].record
    assert (first.entity_key, first.version) == ("c-1", 2)
    assert second.entity_key == "c-2"


@pytest.mark.parametrize(
    ("extra", "headers"),
    [
        ({"id": "x" * 129}, {}),
        ({"parameters": {"entity_key": "k" * 257}}, {}),
        ({"parameters": {"entity_key": 42}}, {}),
    ],
)
def test_bad_ids_and_entity_keys_are_refused(
    served: tuple[str, SqlRecordStore], lr: Trained, extra: dict[str, Any], headers: dict[str, str]
) -> None:
    url, _ = served
    answer = httpx.post(
        f"{url}/v2/models/lr/infer", json=body(lr.x[:1], **extra), headers=headers, timeout=30
    )

    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_request"


def test_failed_predictions_are_not_recorded(served: tuple[str, SqlRecordStore], lr: Trained) -> None:
    url, store = served
    bad = httpx.post(f"{url}/v2/models/lr/infer", json=body(lr.x[:1, :5], id="wrong-shape"), timeout=30)
    good = httpx.post(f"{url}/v2/models/lr/infer", json=body(lr.x[:1], id="after-wrong-shape"), timeout=30)

    assert bad.status_code == 400
    assert good.status_code == 200
    eventually(lambda: store.get("after-wrong-shape"), bool)
    assert store.get("wrong-shape") == []


def test_the_journal_is_emptied_and_the_lag_reported(
    served: tuple[str, SqlRecordStore], lr: Trained, home: Path
) -> None:
    url, store = served
    for i in range(20):
        httpx.post(f"{url}/v2/models/lr/infer", json=body(lr.x[:1], id=f"burst-{i}"), timeout=30)

    eventually(lambda: store.count(RecordQuery()), lambda n: n >= 20)
    journal = home / "journal"
    assert eventually(lambda: segments(journal), lambda s: s == []) == []  # rotated, ingested, deleted
    lag = journal_lag(journal)
    assert lag.reported_at is not None
    assert lag.bytes_behind == 0
    assert len([r for r in all_records(store) if r.record.prediction_id.startswith("burst-")]) == 20


def test_an_endpoint_records_its_variant_the_model_inputs_and_its_shadows(
    served: tuple[str, SqlRecordStore],
) -> None:
    url, store = served
    created = httpx.post(
        f"{url}/api/v1/endpoints",
        json={
            "name": "retain",
            "targets": [{"target": "churn:1"}],
            "shadows": [{"target": "lr:1"}, {"target": "churn:2"}],
            "pipeline": {"pre": [{"type": "select", "columns": ["plan", "age", "spend"]}]},
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    request = {
        "id": "ep-1",
        "inputs": [
            {"name": "plan", "datatype": "BYTES", "shape": [2], "data": ["pro", "basic"]},
            {"name": "age", "datatype": "INT64", "shape": [2], "data": [40, 22]},
            {"name": "spend", "datatype": "FP64", "shape": [2], "data": [10.5, 99.0]},
            {"name": "note", "datatype": "BYTES", "shape": [2], "data": ["x", "y"]},
        ],
    }

    answer = eventually(
        lambda: httpx.post(f"{url}/v2/models/retain/infer", json=request, headers={"berth-entity-key": "c9"}),
        lambda r: r.status_code == 200,
    )

    assert answer.json()["id"] == "ep-1"
    found = eventually(lambda: store.get("ep-1"), lambda r: len(r) >= 2)
    caller = next(r.record for r in found if r.record.shadow_of is None)
    assert (caller.endpoint, caller.model, caller.version, caller.variant) == (
        "retain",
        "churn",
        1,
        "churn:1",
    )
    assert caller.entity_key == "c9"
    assert caller.inputs["plan"] == {"datatype": "BYTES", "shape": [2], "data": ["pro", "basic"]}
    assert "note" in caller.inputs
    assert caller.model_inputs is not None
    assert sorted(caller.model_inputs) == ["age", "plan", "spend"]
    shadows = [r.record for r in found if r.record.shadow_of == "ep-1"]
    # lr cannot read these inputs (its answer fails: no record); churn:2 answers
    assert [(s.prediction_id, s.version, s.entity_key) for s in shadows] == [("ep-1~churn:2", 2, "c9")]
    assert store.count(RecordQuery(endpoint="retain")) == 1
