"""Issue 16 item 3: each record keeps the feature values served with the view's name, the outcome of
each row's look-up, the stored value's write time and the time it was read, over a real server.

Team alpha's endpoint `scoring` reads two Redis views by customer id: `money` (TTL one hour, a miss
served the defaults; its features go to the model) and `risk` (a miss served null; its feature is
dropped by the `select`). One request of three customers meets a hit, a miss and a stale value in
`money`, and a hit and two misses in `risk`. The record (`GET /api/v1/records/ID`), the record
export and the training set (SDK over the API, CLI over a home) say which view gave what, how the
look-up went, when each value was written and when it was read; an endpoint without a `features`
step records none; a principal of another team reads nothing of it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pandas as pd
import pytest
import redis
from click.testing import CliRunner

import berth
from berth.cli.main import cli
from berth.wiring.workspace import open_workspace
from tests.records.helpers import eventually
from tests.support.money_platform import money_platform
from tests.support.redis import redis_address, redis_prefix
from tests.support.servers import server_in_thread

CUSTOMERS = ["c-hit", "c-miss", "c-stale"]
NOW = float(int(time.time()))  # whole seconds: exact as timestamps too
WRITTEN = {"c-hit": NOW - 60.0, "c-stale": NOW - 7200.0}  # the TTL is an hour
VALUES = {"c-hit": {"age": 41.0, "income": 52_000.0}, "c-stale": {"age": 70.0, "income": 10_000.0}}
DEFAULTS = {"age": 40.0, "income": 45_000.0}
RISK_WRITTEN = NOW - 30.0


@dataclass(frozen=True)
class Served:
    url: str
    home: Path
    tokens: dict[str, str]
    asked_at: tuple[float, float]  # the prediction was asked between these times

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}


def _put(client: redis.Redis, prefix: str, view: str, key: str, at: float, values: dict[str, Any]) -> None:
    """A value as the Redis source stores it (docs/features.md): key P:VIEW:KEY, {"t", "v"}."""
    client.set(f"{prefix}:{view}:{key}", orjson.dumps({"t": at, "v": values}))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("features-served") / "home"
    settings, tokens = money_platform(home, seed=5)
    with redis_prefix() as prefix:
        source = f"redis://{redis_address()}/0?prefix={prefix}"
        workspace = open_workspace(settings)
        try:
            workspace.features.create(
                {
                    "name": "money",
                    "entity": "customer_id",
                    "features": {"age": "float64", "income": "float64"},
                    "source": source,
                    "ttl_s": 3600,
                    "on_miss": "defaults",
                    "defaults": DEFAULTS,
                    "budget_ms": 10_000,  # generous: the budget is not under test
                },
                team="alpha",
            )
            workspace.features.create(
                {
                    "name": "risk",
                    "entity": "customer_id",
                    "features": {"risk": "float64"},
                    "source": source,
                    "budget_ms": 10_000,
                },
                team="alpha",
            )
        finally:
            workspace.close()
        client = redis.Redis.from_url(f"redis://{redis_address()}/0")
        try:
            for key, at in WRITTEN.items():
                _put(client, prefix, "money", key, at, VALUES[key])
            _put(client, prefix, "risk", "c-hit", RISK_WRITTEN, {"risk": 0.25})
        finally:
            client.close()
        with server_in_thread(settings) as url:
            auth = {"authorization": f"Bearer {tokens['alice']}"}
            steps = {
                "pre": [
                    {
                        "type": "features",
                        "views": [
                            {"view": "money", "key": "customer_id"},
                            {"view": "risk", "key": "customer_id"},
                        ],
                    },
                    {"type": "select", "columns": ["age", "income"]},
                ]
            }
            for name, pipeline in (("scoring", steps), ("plain", None)):
                body: dict[str, Any] = {"name": name, "team": "alpha", "targets": [{"target": "money:1"}]}
                if pipeline is not None:
                    body["pipeline"] = pipeline
                made = httpx.post(f"{url}/api/v1/endpoints", headers=auth, json=body)
                assert made.status_code == 201, made.text
            before = time.time()
            answer = httpx.post(
                f"{url}/v2/models/scoring/infer",
                headers=auth,
                json={
                    "id": "p-3",
                    "inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [3], "data": CUSTOMERS}],
                },
                timeout=30,
            )
            after = time.time()
            assert answer.status_code == 200, answer.text
            plain = httpx.post(
                f"{url}/v2/models/plain/infer",
                headers=auth,
                json={
                    "id": "p-plain",
                    "inputs": [
                        {"name": "age", "datatype": "FP64", "shape": [1], "data": [40.0]},
                        {"name": "income", "datatype": "FP64", "shape": [1], "data": [50_000.0]},
                    ],
                },
                timeout=30,
            )
            assert plain.status_code == 200, plain.text
            for pid in ("p-3", "p-plain"):
                eventually(
                    lambda pid=pid: httpx.get(f"{url}/api/v1/records/{pid}", headers=auth).status_code,
                    lambda status: status == 200,
                )
            yield Served(url, home, tokens, (before, after))


def _record(served: Served, pid: str, who: str = "alice") -> httpx.Response:
    return httpx.get(f"{served.url}/api/v1/records/{pid}", headers=served.auth(who))


def test_the_record_says_which_view_gave_what_how_and_when(served: Served) -> None:
    answer = _record(served, "p-3")
    assert answer.status_code == 200, answer.text
    [record] = answer.json()["records"]
    money, risk = record["features_served"]
    before, after = served.asked_at
    for view in (money, risk):
        assert before <= view["read_at"] <= after
        assert view["keys"] == CUSTOMERS
    assert money["view"] == "money"
    assert money["outcomes"] == ["hit", "miss", "stale"]
    assert money["written_at"] == [WRITTEN["c-hit"], None, WRITTEN["c-stale"]]
    assert risk["view"] == "risk"
    assert risk["outcomes"] == ["hit", "miss", "miss"]
    assert risk["written_at"] == [RISK_WRITTEN, None, None]
    # what the model was given: the hit's values, the defaults for the miss and the stale value
    inputs = record["model_inputs"]
    assert inputs["age"]["data"] == [41.0, 40.0, 40.0]
    assert inputs["income"]["data"] == [52_000.0, 45_000.0, 45_000.0]


def test_an_endpoint_without_a_features_step_records_none(served: Served) -> None:
    [record] = _record(served, "p-plain").json()["records"]
    assert record["features_served"] is None
    assert record["model_inputs"] is None


def test_a_principal_of_another_team_reads_nothing_of_it(served: Served, tmp_path: Path) -> None:
    stolen = _record(served, "p-3", who="bob")
    missing = _record(served, "p-nobody", who="alice")
    assert (stolen.status_code, stolen.json()["code"]) == (404, "record_not_found")
    assert (missing.status_code, missing.json()["code"]) == (404, "record_not_found")
    listed = httpx.get(
        f"{served.url}/api/v1/records", params={"endpoint": "scoring"}, headers=served.auth("bob")
    )
    assert (listed.status_code, listed.json()["code"]) == (404, "model_not_found")
    records = berth.records(url=served.url, token=served.tokens["bob"])
    try:
        with pytest.raises(berth.BerthError) as refused:
            records.training_set(tmp_path / "stolen.parquet", "scoring")
    finally:
        records.close()
    assert refused.value.code is berth.ErrorCode.MODEL_NOT_FOUND


def test_the_export_carries_it(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "records.parquet"
    records = berth.records(url=served.url, token=served.tokens["alice"])
    try:
        records.export(out, endpoint="scoring")
    finally:
        records.close()
    [row] = pd.read_parquet(out).to_dict("records")
    served_json = orjson.loads(row["features_served"])
    assert [v["view"] for v in served_json] == ["money", "risk"]
    assert served_json[0]["outcomes"] == ["hit", "miss", "stale"]


def _check_training_set(frame: pd.DataFrame, asked_at: tuple[float, float]) -> None:
    frame = frame.sort_values("row").reset_index(drop=True)
    assert list(frame["row"]) == [0, 1, 2]
    assert list(frame["feature.money.outcome"]) == ["hit", "miss", "stale"]
    assert list(frame["feature.risk.outcome"]) == ["hit", "miss", "miss"]
    written = frame["feature.money.written_at"]
    assert str(written.dtype) == "datetime64[us, UTC]"
    assert written[0] == pd.Timestamp(WRITTEN["c-hit"], unit="s", tz="UTC")
    assert pd.isna(written[1])
    assert written[2] == pd.Timestamp(WRITTEN["c-stale"], unit="s", tz="UTC")
    assert frame["feature.risk.written_at"][0] == pd.Timestamp(RISK_WRITTEN, unit="s", tz="UTC")
    for view in ("money", "risk"):
        read_at = frame[f"feature.{view}.read_at"]
        assert read_at.nunique() == 1  # one read a view and request
        assert asked_at[0] - 1e-3 <= read_at[0].timestamp() <= asked_at[1] + 1e-3
    assert list(frame["age"]) == [41.0, 40.0, 40.0]  # the values served, beside how they were served


def test_the_training_set_has_each_views_outcome_and_times_per_row(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "train.parquet"
    records = berth.records(url=served.url, token=served.tokens["alice"])
    try:
        written = records.training_set(out, "scoring")
    finally:
        records.close()
    assert written["rows"] == len(CUSTOMERS)
    _check_training_set(pd.read_parquet(out), served.asked_at)


def test_the_cli_over_a_home_writes_the_same(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "home.parquet"
    result = CliRunner().invoke(
        cli, ["features", "training-set", "scoring", "--out", str(out), "--home", str(served.home)]
    )
    assert result.exit_code == 0, result.output
    _check_training_set(pd.read_parquet(out), served.asked_at)
