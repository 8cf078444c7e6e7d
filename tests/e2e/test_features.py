"""Issue 16: a model that needs features the caller never sends (age, campaign, previous contacts,
the euribor rate, employment: the bank-marketing data keyed by customer id) answers through an
endpoint whose ``features`` step reads them from Redis, from Feast (a real ``feast serve`` whose
online store is the same Redis) and from the embedded table, with identical predictions, equal to
the model's own on the true rows. Misses, stale values and an unreachable store follow each
view's declaration, and the metrics count them."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import berth
from berth.core.settings import Settings
from tests.records.helpers import eventually
from tests.support.feast_server import feast_repo, feast_server, feast_teardown, feast_venv
from tests.support.redis import redis_address, redis_prefix
from tests.support.servers import free_port, server_in_thread

DATA = Path(__file__).parents[1] / "data" / "bank-marketing" / "bank-marketing-subset.csv.gz"
ROWS = 200
FEATURES = {
    "age": "int64",
    "campaign": "int64",
    "previous": "int64",
    "euribor3m": "float64",
    "nr_employed": "float64",
}
COLUMNS = list(FEATURES)


@dataclass(frozen=True)
class Bank:
    frame: pd.DataFrame  # customer_id + the features, one row a customer
    model: Any


@pytest.fixture(scope="module")
def bank() -> Bank:
    raw = pd.read_csv(DATA, nrows=ROWS)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c-{i}" for i in range(len(raw))],
            "age": raw["age"].astype("int64"),
            "campaign": raw["campaign"].astype("int64"),
            "previous": raw["previous"].astype("int64"),
            "euribor3m": raw["euribor3m"].astype("float64"),
            "nr_employed": raw["nr.employed"].astype("float64"),
        }
    )
    y = (raw["y"] == "yes").to_numpy().copy()
    y[:3] = True  # both classes in any sample
    model = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression(max_iter=1000))])
    model.fit(frame[COLUMNS], y)
    return Bank(frame, model)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, bank: Bank) -> Iterator[str]:
    home = tmp_path_factory.mktemp("features") / "home"
    berth.push(bank.model, name="bank-score", home=home, input_example=bank.frame[COLUMNS].head(3))
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        yield url


@pytest.fixture(scope="module")
def sdk(served: str) -> Iterator[Any]:
    client = berth.features(url=served)
    yield client
    client.close()


@pytest.fixture(scope="module")
def prefix() -> Iterator[str]:
    with redis_prefix() as found:
        yield found


def _rows(bank: Bank, keys: list[str] | None = None) -> dict[str, dict[str, Any]]:
    frame = bank.frame if keys is None else bank.frame.set_index("customer_id").loc[keys].reset_index()
    return {
        str(r["customer_id"]): {c: (int(r[c]) if FEATURES[c] == "int64" else float(r[c])) for c in COLUMNS}
        for r in frame.to_dict("records")
    }


def _view(name: str, source: str, **policy: Any) -> dict[str, Any]:
    """A view; its budget generous (the shared test machine stalls), unless the test sets one."""
    spec = {
        "name": name,
        "entity": "customer_id",
        "features": FEATURES,
        "source": source,
        "budget_ms": 10_000,
    }
    return spec | policy


def _endpoint(url: str, name: str, view: str) -> None:
    step = {"type": "features", "views": [{"view": view, "key": "customer_id", "features": COLUMNS}]}
    body = {
        "name": name,
        "targets": [{"target": "bank-score:1"}],
        "pipeline": {"pre": [step, {"type": "select", "columns": COLUMNS}]},
    }
    made = httpx.post(f"{url}/api/v1/endpoints", json=body, timeout=30)
    assert made.status_code == 201, made.text


def _score(url: str, endpoint: str, ids: list[str]) -> httpx.Response:
    body = {
        "inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [len(ids)], "data": ids}],
        "outputs": [{"name": "predict_proba"}],
    }
    return httpx.post(f"{url}/v2/models/{endpoint}/infer", json=body, timeout=30)


def _proba(answer: httpx.Response) -> np.ndarray:
    assert answer.status_code == 200, answer.text
    out = {o["name"]: o for o in answer.json()["outputs"]}["predict_proba"]
    return np.array(out["data"], dtype=np.float64).reshape(out["shape"])


def _expected(bank: Bank, ids: list[str]) -> np.ndarray:
    rows = bank.frame.set_index("customer_id").loc[ids, COLUMNS]
    return np.asarray(bank.model.predict_proba(rows), dtype=np.float64)


def _sample(bank: Bank) -> list[str]:
    ids = [f"c-{i}" for i in range(0, ROWS, 3)][:60]
    return [*ids, ids[0], ids[5], ids[0], ids[7]]  # 64 rows, repeated customers


@pytest.fixture(scope="module")
def redis_view(served: str, sdk: Any, bank: Bank, prefix: str) -> str:
    features = sdk
    features.create_view(_view("bank-redis", f"redis://{redis_address()}/0?prefix={prefix}", ttl_s=86400))
    rows = _rows(bank)
    assert features.stream("bank-redis", rows.items()) == ROWS  # the streaming update API
    _endpoint(served, "score-redis", "bank-redis")
    return "score-redis"


@pytest.fixture(scope="module")
def embedded_view(served: str, sdk: Any, bank: Bank) -> str:
    features = sdk
    features.create_view(_view("bank-embedded", "embedded:"))
    assert features.put("bank-embedded", _rows(bank)) == ROWS
    _endpoint(served, "score-embedded", "bank-embedded")
    return "score-embedded"


@pytest.fixture(scope="module")
def feast_view(served: str, sdk: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_prefix():  # Redis answers (or the test is skipped / fails under CI)
        pass
    venv = feast_venv()
    folder = tmp_path_factory.mktemp("feast")
    project = f"berth_{uuid.uuid4().hex[:10]}"
    repo = feast_repo(venv, folder, project=project, data=DATA, rows=ROWS, redis=redis_address())
    try:
        with feast_server(venv, repo) as feast_url:
            port = feast_url.rsplit(":", 1)[1]
            source = f"feast+http://127.0.0.1:{port}/customer_profile"
            sdk.create_view(_view("bank-feast", source))
            _endpoint(served, "score-feast", "bank-feast")
            yield "score-feast"
    finally:
        feast_teardown(venv, repo)


def test_redis_answers_with_the_features_the_caller_never_sent(
    served: str, bank: Bank, redis_view: str
) -> None:
    ids = _sample(bank)
    np.testing.assert_allclose(_proba(_score(served, redis_view, ids)), _expected(bank, ids), rtol=1e-12)


def test_redis_feast_and_the_embedded_table_predict_identically(
    served: str, sdk: Any, bank: Bank, redis_view: str, embedded_view: str, feast_view: str
) -> None:
    ids = _sample(bank)
    by_redis = _proba(_score(served, redis_view, ids))
    by_feast = _proba(_score(served, feast_view, ids))
    by_embedded = _proba(_score(served, embedded_view, ids))
    np.testing.assert_array_equal(by_redis, by_feast)
    np.testing.assert_array_equal(by_redis, by_embedded)
    np.testing.assert_allclose(by_redis, _expected(bank, ids), rtol=1e-12)
    # each record says what each view gave each row, and when the value was written: Redis keeps
    # its write time, Feast answers the event time of the rows it materialized (a day ago)
    for endpoint, view in ((redis_view, "bank-redis"), (feast_view, "bank-feast")):
        [read] = _served_features(served, endpoint)
        assert (read["view"], read["keys"], read["outcomes"]) == (view, ids, ["hit"] * len(ids))
        ages = {read["read_at"] - at for at in read["written_at"]}
        if view == "bank-feast":
            assert len(ages) == 1  # one event time for every row
            assert 86_400 - 600 < ages.pop() < 86_400 + 3_600
        else:
            assert all(0 <= age < 3_600 for age in ages)
    # a customer Feast does not know follows the view's declaration (null: NaN, which the model refuses)
    sdk.update_view("bank-feast", {"on_miss": "refuse"})
    refused = _score_after_refresh(served, feast_view, ["c-1", "nobody"], status=422)
    assert refused.json()["code"] == "entity_not_found"
    assert "nobody" in refused.json()["error"]


def _served_features(url: str, endpoint: str) -> list[dict[str, Any]]:
    """The newest record's `features_served` of `endpoint` (once the ingester has stored it)."""
    found = eventually(
        lambda: httpx.get(f"{url}/api/v1/records", params={"endpoint": endpoint, "limit": 1}).json(),
        lambda body: bool(body.get("records")),
    )
    served: list[dict[str, Any]] = found["records"][0]["features_served"]
    return served


def _score_after_refresh(url: str, endpoint: str, ids: list[str], *, status: int) -> httpx.Response:
    """The server reads view definitions again within its poll interval (0.1 s here)."""
    deadline = time.monotonic() + 60
    while True:
        answer = _score(url, endpoint, ids)
        if answer.status_code == status or time.monotonic() > deadline:
            assert answer.status_code == status, answer.text
            return answer


def test_misses_follow_the_view(served: str, sdk: Any, bank: Bank, prefix: str) -> None:
    features = sdk
    defaults = {"age": 40, "campaign": 1, "previous": 0, "euribor3m": 3.0, "nr_employed": 5100.0}
    source = f"redis://{redis_address()}/0?prefix={prefix}"
    features.create_view(_view("bank-defaults", source, on_miss="defaults", defaults=defaults))
    features.create_view(_view("bank-refuse", source, on_miss="refuse"))
    features.create_view(_view("bank-stale", source, on_miss="refuse", ttl_s=30))
    known = _rows(bank, ["c-1", "c-2"])
    for view in ("bank-defaults", "bank-refuse"):
        assert features.put(view, known) == 2
    features.stream("bank-stale", [("c-1", known["c-1"])])
    _endpoint(served, "score-defaults", "bank-defaults")
    _endpoint(served, "score-refuse", "bank-refuse")
    _endpoint(served, "score-stale", "bank-stale")

    got = _proba(_score(served, "score-defaults", ["c-1", "stranger", "c-2"]))
    filled = pd.DataFrame([known["c-1"], defaults, known["c-2"]])[COLUMNS]
    np.testing.assert_allclose(got, bank.model.predict_proba(filled), rtol=1e-12)

    refused = _score(served, "score-refuse", ["c-1", "stranger"])
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "entity_not_found"
    assert _score(served, "score-stale", ["c-1"]).status_code == 200
    # a value written longer ago than the TTL is stale: a miss
    features.update_view("bank-stale", {"ttl_s": 0.001})
    stale = _score_after_refresh(served, "score-stale", ["c-1"], status=422)
    assert "stale" in stale.json()["error"]

    metrics = httpx.get(f"{served}/metrics").text
    assert _counted(metrics, "bank-defaults", "miss") == 1
    assert _counted(metrics, "bank-defaults", "hit") == 2
    assert _counted(metrics, "bank-refuse", "miss") >= 1
    assert _counted(metrics, "bank-stale", "stale") >= 1


def test_an_unreachable_store_fails_or_gives_defaults_as_declared(served: str, sdk: Any, bank: Bank) -> None:
    features = sdk
    defaults = {"age": 40, "campaign": 1, "previous": 0, "euribor3m": 3.0, "nr_employed": 5100.0}
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    features.create_view(_view("gone-fail", nowhere))
    features.create_view(_view("gone-defaults", nowhere, on_unavailable="defaults", defaults=defaults))
    _endpoint(served, "score-gone-fail", "gone-fail")
    _endpoint(served, "score-gone-defaults", "gone-defaults")

    failed = _score(served, "score-gone-fail", ["c-1"])
    assert failed.status_code == 503, failed.text
    assert failed.json()["code"] == "features_unavailable"
    got = _proba(_score(served, "score-gone-defaults", ["c-1", "c-2"]))
    np.testing.assert_allclose(got, bank.model.predict_proba(pd.DataFrame([defaults, defaults])), rtol=1e-12)
    metrics = httpx.get(f"{served}/metrics").text
    assert _counted(metrics, "gone-fail", "unavailable") == 1
    assert _counted(metrics, "gone-defaults", "unavailable") == 2
    assert 'berth_feature_read_seconds_count{ok="false",store="redis"}' in metrics


def test_a_view_an_endpoint_reads_cannot_be_deleted(served: str, redis_view: str) -> None:
    refused = httpx.delete(f"{served}/api/v1/features/views/bank-redis")
    assert refused.status_code == 409, refused.text
    assert "score-redis" in refused.json()["error"]


def _counted(metrics: str, view: str, outcome: str) -> float:
    pattern = rf'^berth_feature_rows_total\{{outcome="{outcome}",view="{re.escape(view)}"\}} (\S+)$'
    found = re.search(pattern, metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0
