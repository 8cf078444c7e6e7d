"""Issue 16 items 3 and 4: offline histories, the point-in-time join of training sets, and the
materialize job, over a real server (and a real worker for the job).

Team alpha's endpoint `scoring` is predicted for eight customers; the view `customer-history`
(alpha's) has an offline history in the home: some rows before the predictions, then, AFTER them,
a new file of newer rows for every customer. The training set joined to the view carries, for each
predicted row, the value as of its prediction's time: never the newer one; null for a customer with
no row before it, and for one whose row is older than the view's TTL. Materializing the view after
the update puts the newer values online. Another team's principal gets what a missing view gets.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import berth
from berth.cli.main import cli
from berth.control.jobs.runner import Worker, WorkerConfig
from berth.control.jobs.triggers import TriggerEvaluator
from berth.core.settings import Settings
from berth.storage.queries import now
from berth.wiring.job_kinds import installed_kinds
from berth.wiring.workspace import open_workspace
from tests.records.helpers import eventually
from tests.support.money_platform import money_platform
from tests.support.servers import server_in_thread

VIEWS = "/api/v1/features/views"
MONEY = {
    "name": "customer-money",
    "entity": "customer_id",
    "features": {"age": "float64", "income": "float64"},
    "budget_ms": 10_000,
}
HISTORY = {
    "name": "customer-history",
    "entity": "customer_id",
    "features": {"balance": "float64", "segment": "string"},
    "ttl_s": 86_400,
    "offline": "offline/history",
}
STEPS = {
    "pre": [
        {"type": "features", "views": [{"view": "customer-money", "key": "customer_id"}]},
        {"type": "select", "columns": ["age", "income"]},
    ]
}
CUSTOMERS = [f"c-{i}" for i in range(8)]
SINGLE, BATCH = CUSTOMERS[:6], CUSTOMERS[6:]
AT = pa.timestamp("us", tz="UTC")
# balance as of each prediction: c-0's later of two rows, c-2/c-4/c-5/c-7 none, c-3 older than the TTL
AS_OF = {
    "c-0": 20.0,
    "c-1": 30.0,
    "c-2": None,
    "c-3": None,
    "c-4": None,
    "c-5": None,
    "c-6": 60.0,
    "c-7": None,
}


def _history_file(path: Path, rows: list[tuple[str, datetime, float, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "customer_id": [r[0] for r in rows],
            "event_timestamp": pa.array([r[1] for r in rows], AT),
            "balance": [r[2] for r in rows],
            "segment": [r[3] for r in rows],
        }
    )
    pq.write_table(table, path, row_group_size=2)


@dataclass(frozen=True)
class Served:
    url: str
    home: Path
    settings: Settings
    tokens: dict[str, str]
    updated_at: datetime

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("point-in-time") / "home"
    settings, tokens = money_platform(home, seed=5)
    before = datetime.now(UTC)
    _history_file(
        home / "offline" / "history" / "part-0.parquet",
        [
            ("c-0", before - timedelta(hours=3), 10.0, "s-10"),
            ("c-1", before - timedelta(hours=2), 30.0, "s-30"),
            ("c-0", before - timedelta(hours=1), 20.0, "s-20"),
            ("c-3", before - timedelta(days=3), 40.0, "s-40"),
            ("c-6", before - timedelta(hours=1), 60.0, "s-60"),
        ],
    )
    workspace = open_workspace(settings)
    try:
        workspace.features.create(MONEY, team="alpha")
        workspace.features.put(
            "customer-money", {c: {"age": 30.0 + i, "income": 40_000.0} for i, c in enumerate(CUSTOMERS)}
        )
        workspace.features.create(HISTORY, team="alpha")
        workspace.features.create(HISTORY | {"name": "beta-history"}, team="beta")
    finally:
        workspace.close()
    with server_in_thread(settings) as url:
        auth = {"authorization": f"Bearer {tokens['alice']}"}
        made = httpx.post(
            f"{url}/api/v1/endpoints",
            headers=auth,
            json={"name": "scoring", "team": "alpha", "targets": [{"target": "money:1"}], "pipeline": STEPS},
        )
        assert made.status_code == 201, made.text
        for prediction_id, customers in [*((f"p-{c}", [c]) for c in SINGLE), ("p-batch", BATCH)]:
            answer = httpx.post(
                f"{url}/v2/models/scoring/infer",
                headers=auth,
                json={
                    "id": prediction_id,
                    "inputs": [
                        {
                            "name": "customer_id",
                            "datatype": "BYTES",
                            "shape": [len(customers)],
                            "data": customers,
                        }
                    ],
                },
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        recorded = eventually(
            lambda: httpx.get(f"{url}/api/v1/records", params={"endpoint": "scoring"}, headers=auth).json(),
            lambda b: len(b["records"]) == len(SINGLE) + 1,
        )
        last = max(datetime.fromisoformat(r["recorded_at"]) for r in recorded["records"])
        # AFTER the predictions: newer rows for every customer (what must not leak into the past)
        updated_at = max(datetime.now(UTC), last) + timedelta(seconds=1)
        _history_file(
            home / "offline" / "history" / "part-1.parquet",
            [(c, updated_at, 999.0, "s-999") for c in CUSTOMERS],
        )
        yield Served(url, home, settings, tokens, updated_at)


def _training_set(
    served: Served, out: Path, join: list[dict[str, Any]], who: str = "alice"
) -> dict[str, Any]:
    records = berth.records(url=served.url, token=served.tokens[who])
    try:
        return records.training_set(out, "scoring", join=join)
    finally:
        records.close()


def test_the_joined_features_are_those_as_of_each_prediction_never_later_ones(
    served: Served, tmp_path: Path
) -> None:
    out = tmp_path / "train.parquet"
    written = _training_set(served, out, [{"view": "customer-history"}])
    assert written["rows"] == len(CUSTOMERS)
    frame = pd.read_parquet(out)
    assert {"customer-history.balance", "customer-history.segment", "age", "income"} <= set(frame.columns)
    by_customer = {}
    for _, row in frame.iterrows():
        customer = f"c-{int(row['age'] - 30)}"  # the served age says who it was
        by_customer[customer] = (row["customer-history.balance"], row["customer-history.segment"])
    assert set(by_customer) == set(CUSTOMERS)  # the batched request's two rows, each its own key
    for customer, balance in AS_OF.items():
        got_balance, got_segment = by_customer[customer]
        if balance is None:
            assert pd.isna(got_balance), customer
            assert pd.isna(got_segment), customer
        else:
            assert (got_balance, got_segment) == (balance, f"s-{int(balance)}"), customer
    assert 999.0 not in set(frame["customer-history.balance"])
    assert not list(tmp_path.glob(".*export*"))


def test_the_cli_joins_named_features_over_a_server_and_over_a_home(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BERTH_TOKEN", served.tokens["alice"])
    for where in (["--url", served.url], ["--home", str(served.home)]):
        out = tmp_path / f"train-{where[0].strip('-')}.parquet"
        result = CliRunner().invoke(
            cli,
            ["features", "training-set", "scoring", "--out", str(out), "--join", "customer-history:balance",
             "--join-key", "customer_id", *where],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        frame = pd.read_parquet(out)
        assert "customer-history.segment" not in frame.columns
        balances = dict(
            zip((f"c-{int(a - 30)}" for a in frame["age"]), frame["customer-history.balance"], strict=True)
        )
        assert {c: (None if pd.isna(b) else b) for c, b in balances.items()} == AS_OF


def test_joins_are_checked_and_another_teams_view_is_not_found(served: Served, tmp_path: Path) -> None:
    exports = f"{served.url}/api/v1/records/exports"

    def asked(join: list[dict[str, Any]]) -> httpx.Response:
        return httpx.post(exports, headers=served.auth("alice"), json={"endpoint": "scoring", "join": join})

    missing = asked([{"view": "no-such-view"}])
    other = asked([{"view": "beta-history"}])
    assert missing.status_code == 404, missing.text
    assert (other.status_code, other.json()["code"], other.json()["error"].replace("beta-history", "V")) == (
        404,
        missing.json()["code"],
        missing.json()["error"].replace("no-such-view", "V"),
    )
    no_history = asked([{"view": "customer-money"}])
    assert (no_history.status_code, no_history.json()["code"]) == (400, "invalid_offline_source")
    unknown = asked([{"view": "customer-history", "features": ["nope"]}])
    assert (unknown.status_code, unknown.json()["code"]) == (400, "invalid_request")
    twice = asked([{"view": "customer-history"}, {"view": "customer-history"}])
    assert twice.status_code == 400, twice.text
    assert httpx.get(exports, headers=served.auth("alice")).json()["exports"] == []  # nothing was enqueued


def test_a_declared_history_must_be_in_reach_and_have_the_columns(served: Served) -> None:
    base = HISTORY | {"name": "bad-history", "team": "alpha"}
    (served.home / "offline" / "short.parquet").parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table({"customer_id": ["c"], "balance": [1.0]}), served.home / "offline" / "short.parquet"
    )
    for offline, words in (
        ("../outside", "inside the berth home"),
        ("/etc/passwd", "inside the berth home"),
        ("s3://somebody-elses-bucket/history", "batch_s3_allow"),
        ("file:///etc/passwd", "unsupported offline history"),
        ("offline/short.parquet", "no columns ['event_timestamp', 'segment']"),
    ):
        made = httpx.post(
            f"{served.url}{VIEWS}", headers=served.auth("alice"), json=base | {"offline": offline}
        )
        assert (made.status_code, made.json()["code"]) == (400, "invalid_offline_source"), made.text
        assert words in made.json()["error"], made.text
        changed = httpx.patch(
            f"{served.url}{VIEWS}/customer-history", headers=served.auth("alice"), json={"offline": offline}
        )
        assert (changed.status_code, changed.json()["code"]) == (400, "invalid_offline_source"), changed.text


def test_materialize_puts_the_newest_values_online_and_only_for_the_views_team(
    served: Served, tmp_path: Path
) -> None:
    path = f"{served.url}{VIEWS}/customer-history/materialize"
    other = httpx.post(path, headers=served.auth("bob"), json={})
    missing = httpx.post(f"{served.url}{VIEWS}/no-such-view/materialize", headers=served.auth("bob"), json={})
    assert other.status_code == missing.status_code == 404, other.text
    assert other.json()["code"] == missing.json()["code"] == "entity_table_not_found"
    no_history = httpx.post(
        f"{served.url}{VIEWS}/customer-money/materialize", headers=served.auth("alice"), json={}
    )
    assert (no_history.status_code, no_history.json()["code"]) == (400, "invalid_request")

    queued = httpx.post(path, headers=served.auth("alice"), json={"chunk_rows": 3})
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["id"]
    assert httpx.get(f"{path}/{job_id}", headers=served.auth("bob")).status_code == 404
    assert httpx.get(f"{served.url}{VIEWS}/customer-money/materialize/{job_id}",
                     headers=served.auth("alice")).status_code == 404  # fmt: skip
    with _worker(served.settings):
        done = eventually(
            lambda: httpx.get(f"{path}/{job_id}", headers=served.auth("alice")).json(),
            lambda j: j["status"] in ("succeeded", "failed", "cancelled"),
            timeout_s=60,
        )
    assert done["status"] == "succeeded", done
    assert done["result"]["entities"] == len(CUSTOMERS)  # c-3's old row is replaced by the newer one
    read = httpx.post(
        f"{served.url}{VIEWS}/customer-history/read",
        headers=served.auth("alice"),
        json={"keys": ["c-0", "c-7"]},
    ).json()["values"]
    assert {k: v["values"] for k, v in read.items()} == {
        "c-0": {"balance": 999.0, "segment": "s-999"},
        "c-7": {"balance": 999.0, "segment": "s-999"},
    }


def test_the_cli_waits_for_a_materialize_job_with_progress(served: Served) -> None:
    as_of = (served.updated_at - timedelta(seconds=1)).isoformat()  # before the newer rows
    with _worker(served.settings):
        result = CliRunner().invoke(
            cli,
            [
                "features",
                "materialize",
                "customer-history",
                "--as-of",
                as_of,
                "--wait",
                "--home",
                str(served.home),
            ],
        )
    assert result.exit_code == 0, result.output
    assert "wrote 3 entities to customer-history" in result.output  # c-0, c-1, c-6 (c-3 is too old)
    assert "100.0%" in result.output


@contextmanager
def _worker(settings: Settings) -> Iterator[None]:
    """A real worker (every installed kind) on the server's database, in a thread of the test."""
    workspace = open_workspace(settings)
    service = workspace.jobs
    worker = Worker(
        service.store,
        installed_kinds(),
        workspace,
        settings.home,
        WorkerConfig("w-pit", lease_s=5.0, poll_s=0.05, grace_s=5.0),
        TriggerEvaluator(service.store, None, now),
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="worker-pit")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        workspace.close()
        assert not thread.is_alive()
