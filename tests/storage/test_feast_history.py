"""Issue 16, item 3: features a model did not use yet, from Feast's offline history. berth's
`FeastHistory` (Arrow Flight to a real ``feast serve_offline``, no Feast import) answers a
point-in-time join exactly as Feast's own SDK does (``get_historical_features`` in Feast's
environment), row for row in the callers' order; Feast's rows left out (no value at or before the
time) and repeated rows are answered too; an unreachable or silent server is FEATURES_UNAVAILABLE
within the deadline; a bad URI is refused."""

from __future__ import annotations

import random
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.server.rest.errors import error_status
from berth.storage.feast_history import AT, FeastHistory, parse_uri
from tests.support.feast_server import (
    feast_historical,
    feast_offline_server,
    feast_repo,
    feast_teardown,
    feast_venv,
)
from tests.support.redis import redis_address, redis_prefix
from tests.support.servers import free_port

DATA = Path(__file__).parents[1] / "data" / "bank-marketing" / "bank-marketing-subset.csv.gz"
ROWS = 40
TYPES = {
    "age": pa.int64(),
    "campaign": pa.int64(),
    "previous": pa.int64(),
    "euribor3m": pa.float64(),
    "nr_employed": pa.float64(),
}
FEATURES = list(TYPES)


@dataclass(frozen=True)
class Feast:
    venv: Path
    repo: Path
    uri: str
    history: pa.Table  # the repository's Parquet: customer_id, event_timestamp, the features

    def values(self, key: str, at: datetime) -> dict[str, Any]:
        rows = [
            r
            for r in self.history.to_pylist()
            if r["customer_id"] == key and r["event_timestamp"].to_pydatetime() == at
        ]
        assert len(rows) == 1
        return {f: rows[0][f] for f in FEATURES}


@pytest.fixture(scope="module")
def feast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Feast]:
    with redis_prefix():  # the repository's online store is Redis (skipped, or failed under CI)
        pass
    venv = feast_venv()
    project = f"berth_{uuid.uuid4().hex[:10]}"
    repo = feast_repo(
        venv, tmp_path_factory.mktemp("feast"), project=project, data=DATA, rows=ROWS, redis=redis_address()
    )
    try:
        with feast_offline_server(venv, repo) as address:
            uri = f"feast+flight://{address}/customer_profile?project={project}"
            yield Feast(venv, repo, uri, pq.read_table(repo / "customers.parquet"))
    finally:
        feast_teardown(venv, repo)


def _stamps(feast: Feast) -> tuple[datetime, datetime]:
    older, newer = sorted({t.to_pydatetime() for t in feast.history.column("event_timestamp").to_pylist()})
    return older, newer


def _entities(rows: list[tuple[str, datetime]]) -> pa.Table:
    return pa.table({"key": [k for k, _ in rows], "at": pa.array([t for _, t in rows], AT)})


def test_as_of_equals_feasts_own_historical_retrieval(feast: Feast) -> None:
    older, newer = _stamps(feast)
    times = [
        older - timedelta(hours=1),  # before any value: null
        older,  # at the older value's time: it
        older + timedelta(hours=5),  # between: the older value
        newer,
        newer + timedelta(days=3),  # after: the newer value
    ]
    rows = [(f"c-{i}", t) for i in range(0, ROWS, 3) for t in times]
    rows += [("nobody", newer), ("c-1", newer), ("c-1", newer)]  # an unknown key; a repeated row
    random.Random(16).shuffle(rows)

    answer = FeastHistory(feast.uri, entity="customer_id", types=TYPES).as_of(FEATURES, _entities(rows))

    assert answer.schema == pa.schema(TYPES)
    assert answer.num_rows == len(rows)
    oracle = feast_historical(
        feast.venv,
        feast.repo,
        {
            "view": "customer_profile",
            "join_key": "customer_id",
            "features": FEATURES,
            "rows": [{"key": k, "at": t.isoformat()} for k, t in rows],
        },
    )
    feasts = {(r["key"], datetime.fromisoformat(r["at"])): {f: r[f] for f in FEATURES} for r in oracle}
    nothing = dict.fromkeys(FEATURES)
    for (key, at), got in zip(rows, answer.to_pylist(), strict=True):
        assert got == feasts.get((key, at), nothing), (key, at)
    # Feast's SDK leaves out the rows before any value (and answers a repeated row once): those are null
    assert {(k, t) for k, t in rows if t < older or k == "nobody"} >= set(
        (k, t) for k, t in rows if (k, t) not in feasts
    )
    # and the values are the history's: the latest at or before each time
    for (key, at), got in zip(rows, answer.to_pylist(), strict=True):
        if key == "nobody" or at < older:
            assert got == nothing
        else:
            assert got == feast.values(key, older if at < newer else newer), (key, at)


def test_the_answer_keeps_the_callers_row_order(feast: Feast) -> None:
    older, newer = _stamps(feast)
    rows = [(f"c-{i}", newer if i % 2 else older) for i in range(ROWS)]
    history = FeastHistory(feast.uri, entity="customer_id", types=TYPES)
    forward = history.as_of(["age", "euribor3m"], _entities(rows)).to_pylist()
    backward = history.as_of(["age", "euribor3m"], _entities(rows[::-1])).to_pylist()
    assert backward == forward[::-1]
    assert forward == [
        {"age": feast.values(k, t)["age"], "euribor3m": feast.values(k, t)["euribor3m"]} for k, t in rows
    ]


def test_an_unknown_feature_or_project_is_unavailable_not_a_500(feast: Feast) -> None:
    _, newer = _stamps(feast)
    entities = _entities([("c-1", newer)])
    with pytest.raises(BerthError) as raised:
        FeastHistory(feast.uri, entity="customer_id").as_of(["no_such_feature"], entities)
    assert raised.value.code == ErrorCode.FEATURES_UNAVAILABLE
    other = feast.uri.rsplit("=", 1)[0] + "=no_such_project"
    with pytest.raises(BerthError) as raised:
        FeastHistory(other, entity="customer_id").as_of(["age"], entities)
    assert raised.value.code == ErrorCode.FEATURES_UNAVAILABLE


def test_an_unreachable_server_is_features_unavailable() -> None:
    history = FeastHistory(f"feast+flight://127.0.0.1:{free_port()}/customer_profile?project=p", entity="id")
    with pytest.raises(BerthError) as raised:
        history.as_of(["age"], _entities([("c-1", datetime.fromisoformat("2026-01-01T00:00:00+00:00"))]))
    assert raised.value.code == ErrorCode.FEATURES_UNAVAILABLE
    assert error_status(raised.value) == 503


def test_a_server_that_never_answers_is_given_up_at_the_deadline() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never speaks
        port = silent.getsockname()[1]
        history = FeastHistory(
            f"feast+flight://127.0.0.1:{port}/customer_profile?project=p", entity="id", timeout_s=1.0
        )
        with pytest.raises(BerthError) as raised:
            history.as_of(["age"], _entities([("c-1", datetime.fromisoformat("2026-01-01T00:00:00+00:00"))]))
    assert raised.value.code == ErrorCode.FEATURES_UNAVAILABLE


def test_entity_rows_without_a_key_or_time_column_are_refused() -> None:
    history = FeastHistory("feast+flight://127.0.0.1:1/v?project=p", entity="id")
    with pytest.raises(BerthError) as raised:
        history.as_of(["age"], pa.table({"key": ["c-1"]}))
    assert raised.value.code == ErrorCode.INVALID_REQUEST


def test_no_entity_rows_ask_nothing() -> None:
    # port 1 answers nothing: no call is made for no rows
    history = FeastHistory("feast+flight://127.0.0.1:1/v?project=p", entity="id", types=TYPES)
    answer = history.as_of(["age", "euribor3m"], _entities([]))
    assert answer.schema == pa.schema({"age": pa.int64(), "euribor3m": pa.float64()})
    assert answer.num_rows == 0


def test_a_uri_names_the_server_view_and_project() -> None:
    address = parse_uri("feast+flight://feast.internal:8815/customer_profile?project=bank")
    assert (address.location, address.view, address.project) == (
        "grpc://feast.internal:8815",
        "customer_profile",
        "bank",
    )
    assert parse_uri("feast+flight://[::1]:8815/v?project=p").location == "grpc://[::1]:8815"


@pytest.mark.parametrize(
    "uri",
    [
        "feast+http://127.0.0.1:8815/v?project=p",  # another scheme
        "grpc://127.0.0.1:8815/v?project=p",
        "feast+flight://127.0.0.1/v?project=p",  # no port
        "feast+flight://127.0.0.1:0/v?project=p",
        "feast+flight://127.0.0.1:70000/v?project=p",
        "feast+flight://:8815/v?project=p",  # no host
        "feast+flight://user:secret@127.0.0.1:8815/v?project=p",  # credentials
        "feast+flight://127.0.0.1:8815/v?project=p#x",
        "feast+flight://127.0.0.1:8815/?project=p",  # no view
        "feast+flight://127.0.0.1:8815/a/b?project=p",
        "feast+flight://127.0.0.1:8815/../v?project=p",
        "feast+flight://127.0.0.1:8815/v%2Fw?project=p",
        "feast+flight://127.0.0.1:8815/v",  # no project
        "feast+flight://127.0.0.1:8815/v?project=",
        "feast+flight://127.0.0.1:8815/v?project=p&project=q",
        "feast+flight://127.0.0.1:8815/v?project=p&tls=1",
        "feast+flight://127.0.0.1:8815/v?project=a/b",
        "feast+flight://ho_st:8815/v?project=p",
        "feast+flight://127.0.0.1:8815/v?project=p ",
        "feast+flight://127.0.0.1:8815/v\n?project=p",
        "",
    ],
)
def test_a_bad_uri_is_refused(uri: str) -> None:
    with pytest.raises(BerthError) as raised:
        FeastHistory(uri, entity="customer_id")
    assert raised.value.code == ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("entity", ["", "event_timestamp", "__berth_row", "a b", "x" * 200])
def test_a_join_key_that_cannot_be_sent_is_refused(entity: str) -> None:
    with pytest.raises(BerthError) as raised:
        FeastHistory("feast+flight://127.0.0.1:8815/v?project=p", entity=entity)
    assert raised.value.code == ErrorCode.INVALID_REQUEST


def test_a_view_whose_offline_history_is_feast_is_joined_through_the_wiring(
    feast: Feast, tmp_path: Path
) -> None:
    """A berth view declaring ``offline: feast+flight://...``: its declaration is accepted, the
    wiring reads it with `FeastHistory` (typed by the view), and the training sets' join over an
    export asks Feast as of each record's time."""
    from berth.control.feature_joins import joined_columns, resolve_joins
    from berth.core.settings import Settings
    from berth.wiring.workspace import open_workspace

    workspace = open_workspace(Settings(home=tmp_path / "home"))
    try:
        view = workspace.features.create(
            {
                "name": "customer-profile",
                "entity": "customer_id",
                "features": {"age": "int64", "euribor3m": "float64"},
                "offline": feast.uri,
            },
            team="default",
        )
        older, newer = _stamps(feast)
        rows = [("c-0", older - timedelta(hours=1)), ("c-0", newer), ("c-3", older + timedelta(hours=1))]
        direct = FeastHistory(
            feast.uri, entity="customer_id", types={"age": pa.int64(), "euribor3m": pa.float64()}
        )
        expected = direct.as_of(["age", "euribor3m"], _entities(rows))
        assert workspace.feature_history(view).as_of(["age", "euribor3m"], _entities(rows)) == expected
        records = pa.table(
            {
                "recorded_at": pa.array([t for _, t in rows], AT),
                "entity_key": [None, None, None],
                "inputs": [f'{{"customer_id": {{"shape": [1], "data": ["{k}"]}}}}' for k, _ in rows],
                "model_inputs": [None, None, None],
            }
        )
        joins = resolve_joins([{"view": "customer-profile", "features": ["age"]}], workspace.features.get)
        joined = joined_columns(records, joins, workspace.feature_history)
        assert joined["customer-profile.age"].to_pylist() == [[v] for v in expected.column("age").to_pylist()]
        assert expected.column("age").to_pylist()[0] is None  # before any value
        with pytest.raises(BerthError) as caught:
            workspace.features.update(
                "customer-profile", {"offline": "feast+flight://127.0.0.1:1/v"}
            )  # no project
        assert caught.value.code is ErrorCode.INVALID_OFFLINE_SOURCE
    finally:
        workspace.close()
