"""The records and feedback API over a real server: query, feedback, exports, erasure, bad input."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from berth.core.settings import Settings
from tests.records.builders import T0, ingest, record
from tests.support.servers import server_in_thread


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    settings.home.mkdir(parents=True, exist_ok=True)
    ingest(
        settings.resolved_database_url,
        [record(n, entity="cust-1" if n % 2 else "cust-2", label="a" if n < 6 else "b") for n in range(10)],
    )
    with server_in_thread(settings) as url:
        yield url


def test_records_come_newest_first_with_filters_and_cursor_paging(server: str) -> None:
    first = httpx.get(f"{server}/api/v1/records", params={"endpoint": "router", "limit": 4}).json()
    ids = [r["prediction_id"] for r in first["records"]]
    assert ids == ["p9", "p8", "p7", "p6"]
    second = httpx.get(
        f"{server}/api/v1/records", params={"endpoint": "router", "limit": 4, "cursor": first["next_cursor"]}
    ).json()
    assert [r["prediction_id"] for r in second["records"]] == ["p5", "p4", "p3", "p2"]
    by_entity = httpx.get(f"{server}/api/v1/records", params={"entity_key": "cust-2"}).json()
    assert {r["prediction_id"] for r in by_entity["records"]} == {"p0", "p2", "p4", "p6", "p8"}
    window = httpx.get(
        f"{server}/api/v1/records",
        params={
            "start": (T0 + timedelta(seconds=3)).isoformat(),
            "end": (T0 + timedelta(seconds=5)).isoformat(),
        },
    ).json()
    assert [r["prediction_id"] for r in window["records"]] == ["p4", "p3"]
    one = window["records"][0]
    assert one["inputs"]["text"]["data"] == ["hello"]
    assert one["feedback"] is None


def test_feedback_reports_unknown_ids_stores_the_rest_and_the_last_one_wins(server: str) -> None:
    answer = httpx.post(
        f"{server}/api/v1/feedback",
        json={"feedback": [{"prediction_id": "p1", "label": "b"}, {"prediction_id": "nope", "label": "a"}]},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["stored"] == 1
    assert body["unknown"] == ["nope"]
    assert body["results"] == [
        {"prediction_id": "p1", "status": "stored"},
        {"prediction_id": "nope", "status": "unknown_prediction"},
    ]
    again = httpx.post(
        f"{server}/api/v1/feedback", json={"feedback": [{"prediction_id": "p1", "label": "c"}]}
    )
    assert again.json()["stored"] == 1
    shown = httpx.get(f"{server}/api/v1/records/p1").json()
    assert shown["records"][0]["feedback"]["label"] == "c"
    labelled = httpx.get(f"{server}/api/v1/records", params={"has_feedback": "true"}).json()
    assert [r["prediction_id"] for r in labelled["records"]] == ["p1"]


def test_entity_feedback_goes_to_the_entitys_latest_prediction(server: str) -> None:
    answer = httpx.post(
        f"{server}/api/v1/feedback",
        json={"entity_feedback": [{"entity_key": "cust-1", "endpoint": "router", "label": "z"}]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == 1
    assert httpx.get(f"{server}/api/v1/records/p9").json()["records"][0]["feedback"]["label"] == "z"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"feedback": []},
        {"feedback": [{"prediction_id": "p1"}]},
        {"feedback": [{"prediction_id": "p1", "label": "a", "value": 1.0}]},
        {"feedback": [{"prediction_id": "", "label": "a"}]},
        {"feedback": [{"prediction_id": "p1", "label": "a", "observed_at": "yesterday"}]},
        {"feedback": [{"prediction_id": "p1", "label": "a", "extra": 1}]},
        {"feedback": "p1"},
    ],
)
def test_malformed_feedback_is_a_400_with_a_code(server: str, body: object) -> None:
    answer = httpx.post(f"{server}/api/v1/feedback", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_request"


def test_a_nan_feedback_value_is_refused(server: str) -> None:
    answer = httpx.post(
        f"{server}/api/v1/feedback",
        content=b'{"feedback": [{"prediction_id": "p1", "value": NaN}]}',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"start": "not-a-time"}, "invalid_request"),
        ({"start": "2026-11-21T10:00:00Z", "end": "2026-11-21T09:00:00Z"}, "invalid_request"),
        ({"start": "2026-11-21T10:00:00Z", "end": "2026-11-21T10:00:00Z"}, "invalid_request"),
        ({"limit": "0"}, "invalid_request"),
        ({"limit": "100000"}, "invalid_request"),
        ({"cursor": "garbage"}, "invalid_cursor"),
    ],
)
def test_malformed_record_queries_are_400(server: str, params: dict[str, str], code: str) -> None:
    answer = httpx.get(f"{server}/api/v1/records", params=params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == code


def test_an_unknown_prediction_id_is_404(server: str) -> None:
    answer = httpx.get(f"{server}/api/v1/records/unknown")
    assert answer.status_code == 404
    assert answer.json()["code"] == "record_not_found"


def test_export_is_parquet_kept_on_the_server_and_erasure_scrubs_it(server: str, tmp_path: Path) -> None:
    answer = httpx.post(f"{server}/api/v1/records/exports", json={"endpoint": "router"}, timeout=60)
    assert answer.status_code == 202, answer.text
    export_id = answer.json()["id"]
    assert answer.headers["location"] == f"/api/v1/records/exports/{export_id}"
    deadline = time.monotonic() + 60
    view = answer.json()
    while view["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        view = httpx.get(f"{server}/api/v1/records/exports/{export_id}").json()
    assert view["status"] == "succeeded", view
    assert view["rows"] == 10
    assert view["progress"] == 1.0
    download = httpx.get(f"{server}/api/v1/records/exports/{export_id}/file")
    table = pq.read_table(io.BytesIO(download.content))
    assert table.num_rows == 10
    assert set(table.column("entity_key").to_pylist()) == {"cust-1", "cust-2"}
    listed = httpx.get(f"{server}/api/v1/records/exports").json()["exports"]
    assert [e["id"] for e in listed] == [export_id]

    erased = httpx.delete(f"{server}/api/v1/records", params={"entity_key": "cust-1"}, timeout=60)
    assert erased.status_code == 200, erased.text
    assert erased.json() == {
        "entity_key": "cust-1",
        "records": 5,
        "feedback": 0,
        "export_rows": 5,
        "journal_drained": True,
    }
    remaining = httpx.get(f"{server}/api/v1/records", params={"entity_key": "cust-1"}).json()["records"]
    assert remaining == []
    download = httpx.get(f"{server}/api/v1/records/exports/{export_id}/file")
    kept = pq.read_table(io.BytesIO(download.content))
    assert set(kept.column("entity_key").to_pylist()) == {"cust-2"}


@pytest.mark.parametrize(
    "export_id", ["../../etc/passwd", "x", "20261121T100000Z-zzzzzzzz", "1/file", "0", "99999999"]
)
def test_export_ids_never_reach_the_file_system_unchecked(server: str, export_id: str) -> None:
    answer = httpx.get(f"{server}/api/v1/records/exports/{export_id}")
    assert answer.status_code in (400, 404)
    assert answer.json()["code"] in ("invalid_request", "route_not_found", "export_not_found")


def test_cursors_are_url_safe_opaque_and_bound_to_their_query(server: str) -> None:
    first = httpx.get(f"{server}/api/v1/records", params={"endpoint": "router", "limit": 3}).json()
    cursor = first["next_cursor"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)  # base64url without padding
    # pasted into a URL as it is, unescaped
    second = httpx.get(f"{server}/api/v1/records?endpoint=router&limit=3&cursor={cursor}").json()
    assert [r["prediction_id"] for r in second["records"]] == ["p6", "p5", "p4"]
    tampered = [
        cursor[:-2],
        cursor[::-1],
        cursor + "A",
        "A" + cursor[1:],
        "2026-01-01T00:00:00+00:00_5",  # the old shape
        "%00",
        "e30",  # {}
        "W10",  # []
        "bnVsbA",  # null
    ]
    for bad in tampered:
        answer = httpx.get(
            f"{server}/api/v1/records", params={"endpoint": "router", "limit": 3, "cursor": bad}
        )
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["code"] in {"invalid_cursor", "invalid_request"}, bad
    other_query = httpx.get(
        f"{server}/api/v1/records", params={"entity_key": "cust-2", "limit": 3, "cursor": cursor}
    )
    assert other_query.status_code == 400
    assert other_query.json()["code"] == "invalid_cursor"
