"""Issue 16 item 3: training sets that match serving, over a real server.

Team alpha's endpoint `scoring` looks up `age` and `income` by customer id in the embedded view
`customer-money`. Six customers are predicted one at a time, two more in one batched request; then
every customer's features are UPDATED in the view, and only then does feedback arrive. The
training set (`berth features training-set`, the SDK's `training_set`, over the API and over a
home) and the retrain job's corrections carry the values served at prediction time, not the new
ones; a principal of another team gets nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from click.testing import CliRunner

import berth
from berth.cli.main import cli
from berth.control.retraining.corrections import read_corrections
from berth.core.settings import Settings
from berth.wiring.workspace import open_workspace
from tests.records.helpers import eventually
from tests.support.money_platform import money_platform
from tests.support.servers import server_in_thread

VIEW = {
    "name": "customer-money",
    "entity": "customer_id",
    "features": {"age": "float64", "income": "float64"},
    "budget_ms": 10_000,  # generous: the budget is not under test
}
STEPS = {
    "pre": [
        {"type": "features", "views": [{"view": "customer-money", "key": "customer_id"}]},
        {"type": "select", "columns": ["age", "income"]},
    ]
}
SERVED = {f"c-{i}": {"age": 30.0 + i, "income": 40_000.0 + 1_000 * i} for i in range(8)}
UPDATED = {key: {"age": 99.0, "income": 1.0} for key in SERVED}
SINGLE = [f"c-{i}" for i in range(6)]  # predicted one at a time, ids p-c-0 ...
BATCH = ["c-6", "c-7"]  # one request, id p-batch
LABELLED = {"p-c-0": "yes", "p-c-1": "no", "p-c-2": "yes", "p-batch": "no"}


@dataclass(frozen=True)
class Served:
    url: str
    home: Path
    settings: Settings
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}


def _predict(served: Served, prediction_id: str, customers: list[str]) -> None:
    answer = httpx.post(
        f"{served.url}/v2/models/scoring/infer",
        headers=served.auth("alice"),
        json={
            "id": prediction_id,
            "inputs": [
                {"name": "customer_id", "datatype": "BYTES", "shape": [len(customers)], "data": customers}
            ],
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("training-sets") / "home"
    settings, tokens = money_platform(home, seed=3)
    workspace = open_workspace(settings)
    try:
        workspace.features.create(VIEW, team="alpha")
        workspace.features.put("customer-money", SERVED)
    finally:
        workspace.close()
    with server_in_thread(settings) as url:
        found = Served(url, home, settings, tokens)
        made = httpx.post(
            f"{url}/api/v1/endpoints",
            headers=found.auth("alice"),
            json={"name": "scoring", "team": "alpha", "targets": [{"target": "money:1"}], "pipeline": STEPS},
        )
        assert made.status_code == 201, made.text
        for customer in SINGLE:
            _predict(found, f"p-{customer}", [customer])
        _predict(found, "p-batch", BATCH)
        in_store = eventually(
            lambda: httpx.get(
                f"{url}/api/v1/records", params={"endpoint": "scoring"}, headers=found.auth("alice")
            ).json(),
            lambda b: len(b["records"]) == len(SINGLE) + 1,
        )
        assert len(in_store["records"]) == len(SINGLE) + 1
        # the features change after the predictions, before the feedback
        updated = httpx.put(
            f"{url}/api/v1/features/views/customer-money/values",
            headers=found.auth("alice"),
            json={"values": UPDATED},
        )
        assert updated.status_code == 200, updated.text
        feedback = httpx.post(
            f"{url}/api/v1/feedback",
            headers=found.auth("alice"),
            json={"feedback": [{"prediction_id": p, "label": v} for p, v in LABELLED.items()]},
        )
        assert feedback.json()["stored"] == len(LABELLED), feedback.text
        yield found


def test_the_view_now_holds_the_updated_values(served: Served) -> None:
    read = httpx.post(
        f"{served.url}/api/v1/features/views/customer-money/read",
        headers=served.auth("alice"),
        json={"keys": ["c-0"]},
    )
    assert read.status_code == 200, read.text
    assert "99.0" in read.text


def test_the_training_set_carries_the_values_served_at_prediction_time(
    served: Served, tmp_path: Path
) -> None:
    out = tmp_path / "train.parquet"
    records = berth.records(url=served.url, token=served.tokens["alice"])
    try:
        written = records.training_set(out, "scoring")
    finally:
        records.close()
    assert written == {"records": len(SINGLE) + 1, "rows": len(SINGLE) + len(BATCH), "path": str(out)}
    frame = pd.read_parquet(out).sort_values(["prediction_id", "row"]).reset_index(drop=True)
    expected = [(f"p-{c}", 0, 1, c) for c in SINGLE] + [("p-batch", i, 2, c) for i, c in enumerate(BATCH)]
    expected.sort()
    assert list(zip(frame["prediction_id"], frame["row"], frame["rows"], strict=True)) == [
        e[:3] for e in expected
    ]
    for (_, _, _, customer), (_, row) in zip(expected, frame.iterrows(), strict=True):
        assert (row["age"], row["income"]) == (SERVED[customer]["age"], SERVED[customer]["income"])
    assert "customer_id" not in frame.columns  # the model's inputs: after the select step
    assert set(frame["output.predict"]) <= {"yes", "no"}
    labels = dict(zip(frame["prediction_id"], frame["feedback_label"], strict=True))
    assert {p: labels[p] for p in LABELLED} == LABELLED
    assert pd.isna(labels["p-c-5"])
    assert frame["recorded_at"].notna().all()
    assert (frame["model"] == "money").all()
    assert not list(tmp_path.glob(".*export*"))  # the scratch export is gone here
    exports = httpx.get(f"{served.url}/api/v1/records/exports", headers=served.auth("alice"))
    assert [e for e in exports.json()["exports"] if e["status"] == "succeeded"] == []  # and there


def test_the_cli_writes_it_with_feedback_only_over_a_home_and_a_server(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BERTH_TOKEN", served.tokens["alice"])
    for where in (["--url", served.url], ["--home", str(served.home)]):
        out = tmp_path / f"labelled-{where[0].strip('-')}.parquet"
        result = CliRunner().invoke(
            cli,
            ["features", "training-set", "scoring", "--out", str(out), "--with-feedback-only", *where],
        )
        assert result.exit_code == 0, result.output
        assert f"wrote 5 rows (4 predictions) to {out}" in result.output
        frame = pd.read_parquet(out)
        assert set(frame["prediction_id"]) == set(LABELLED)
        assert len(frame) == 5  # the batched prediction's label is on both its rows
        by_id = frame.set_index(["prediction_id", "row"])
        assert by_id.loc[("p-c-2", 0), "age"] == SERVED["c-2"]["age"]
        assert by_id.loc[("p-batch", 1), "income"] == SERVED["c-7"]["income"]


def test_a_window_narrows_it_and_an_empty_one_is_refused(served: Served, tmp_path: Path) -> None:
    records = berth.records(url=served.url, token=served.tokens["alice"])
    try:
        later = records.training_set(tmp_path / "none.parquet", "scoring", start="2100-01-01T00:00:00Z")
        assert later["rows"] == 0
        with pytest.raises(berth.BerthError) as refused:
            records.training_set(
                tmp_path / "bad.parquet", "scoring", start="2026-01-02T00:00:00Z", end="2026-01-01T00:00:00Z"
            )
    finally:
        records.close()
    assert refused.value.code is berth.ErrorCode.INVALID_REQUEST


def test_a_principal_of_another_team_gets_no_training_set(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "stolen.parquet"
    records = berth.records(url=served.url, token=served.tokens["bob"])
    try:
        with pytest.raises(berth.BerthError) as refused:
            records.training_set(out, "scoring")
    finally:
        records.close()
    # answered like an endpoint that does not exist, as reading its records is
    assert refused.value.code is berth.ErrorCode.MODEL_NOT_FOUND
    listed = httpx.get(
        f"{served.url}/api/v1/records", params={"endpoint": "scoring"}, headers=served.auth("bob")
    )
    assert (listed.status_code, listed.json()["code"]) == (404, "model_not_found")
    assert not out.exists()
    assert httpx.get(f"{served.url}/api/v1/records/exports", headers=served.auth("bob")).json() == {
        "exports": []
    }


class _ServedRows:
    """The part of a trainer `read_corrections` uses: a record's (age, income) rows."""

    def rows_of(self, inputs: Mapping[str, Mapping[str, Any]]) -> list[Any]:
        if "age" not in inputs:
            return []
        return list(zip(inputs["age"]["data"], inputs["income"]["data"], strict=True))

    def base_data(self) -> tuple[list[Any], list[str]]:
        return [], []

    def train(self, base: Any, corrections: Any) -> Any:
        raise NotImplementedError

    def model_input(self, rows: Sequence[Any]) -> Any:
        return pd.DataFrame(list(rows), columns=["age", "income"])

    def evaluation_data(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {}


def test_the_retrain_job_trains_on_the_served_features(served: Served) -> None:
    """Before, a correction's row was the caller's request: a customer id, no features at all (the
    trainer found no row). Now it is what the model was given."""
    workspace = open_workspace(served.settings)
    try:
        found = read_corrections(workspace.records.store, "scoring", _ServedRows(), holdout_percent=0)
    finally:
        workspace.close()
    single = {p: v for p, v in LABELLED.items() if p != "p-batch"}
    expected = {
        (SERVED[p.removeprefix("p-")]["age"], SERVED[p.removeprefix("p-")]["income"]): v
        for p, v in single.items()
    }
    assert dict(zip(found.train_rows, found.train_labels, strict=True)) == expected
    assert found.refused == {"a batched prediction: one label cannot name its rows": 1}
