"""The "needs review" order (GET /api/v1/records?order=needs_review) over a real server: records a
correction can teach (one row, no feedback yet), the most uncertain first, spread over categories."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from berth.control.review_order import needs_review, uncertainty
from berth.core.records import Feedback, PredictionRecord, StoredRecord
from berth.core.settings import Settings
from tests.records.builders import T0, ingest, record
from tests.support.servers import server_in_thread


def answered(n: int, category: str, confidence: float, *, rows: int = 1) -> PredictionRecord:
    """A feedback-router-like record: its category and the largest probability (`confidence`)."""
    return replace(
        record(n),
        outputs={
            "category": {"datatype": "BYTES", "shape": [rows], "data": [category] * rows},
            "team": {"datatype": "BYTES", "shape": [rows], "data": ["cards"] * rows},
            "confidence": {"datatype": "FP64", "shape": [rows], "data": [confidence] * rows},
        },
    )


# (id, category, confidence): newest last
RECORDS = [
    (0, "card_arrival", 0.95),
    (1, "card_arrival", 0.30),
    (2, "card_arrival", 0.40),
    (3, "exchange_rate", 0.90),
    (4, "exchange_rate", 0.35),
    (5, "top_up_failed", 0.80),
]
ORDER = ["p1", "p4", "p5", "p2", "p3", "p0"]
"""Each category's most uncertain first (p1 0.30, p4 0.35, p5 0.80), then the second of each
(p2 0.40, p3 0.90), then p0."""


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    settings.home.mkdir(parents=True, exist_ok=True)
    made = [answered(n, c, p) for n, c, p in RECORDS]
    made += [answered(6, "card_arrival", 0.01, rows=3), answered(7, "card_arrival", 0.02)]
    made.append(replace(record(8), outputs={"predict": {"datatype": "BYTES", "shape": [1], "data": ["x"]}}))
    ingest(settings.resolved_database_url, made)
    with server_in_thread(settings) as url:
        answer = httpx.post(
            f"{url}/api/v1/feedback", json={"feedback": [{"prediction_id": "p7", "label": "x"}]}
        )
        assert answer.json()["stored"] == 1
        yield url


def ids(page: dict[str, Any]) -> list[str]:
    return [r["prediction_id"] for r in page["records"]]


def test_needs_review_puts_uncertain_answers_of_every_category_first(server: str) -> None:
    page = httpx.get(
        f"{server}/api/v1/records", params={"endpoint": "router", "order": "needs_review"}
    ).json()
    # p6 is batched (3 rows) and p7 has feedback: a correction of either teaches nothing; p8 has no
    # confidence: after every scored record
    assert ids(page) == [*ORDER, "p8"]
    assert page["next_cursor"] is None
    newest = httpx.get(f"{server}/api/v1/records", params={"endpoint": "router"}).json()
    assert ids(newest)[:3] == ["p8", "p7", "p6"]  # the default order is unchanged


def test_needs_review_pages_by_position_and_refuses_other_cursors(server: str) -> None:
    params = {"endpoint": "router", "order": "needs_review", "limit": 4}
    first = httpx.get(f"{server}/api/v1/records", params=params).json()
    assert ids(first) == ORDER[:4]
    second = httpx.get(f"{server}/api/v1/records", params={**params, "cursor": first["next_cursor"]}).json()
    assert ids(second) == [*ORDER[4:], "p8"]
    assert second["next_cursor"] is None
    newest = httpx.get(f"{server}/api/v1/records", params={"endpoint": "router", "limit": 2}).json()
    wrong = httpx.get(f"{server}/api/v1/records", params={**params, "cursor": newest["next_cursor"]})
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "invalid_request"
    bad = httpx.get(f"{server}/api/v1/records", params={"order": "random"})
    assert bad.status_code == 400


def test_needs_review_reads_the_margin_of_class_probabilities() -> None:
    sure = {"predict_proba": {"datatype": "FP64", "shape": [1, 3], "data": [0.9, 0.05, 0.05]}}
    torn = {"predict_proba": {"datatype": "FP64", "shape": [1, 3], "data": [0.45, 0.44, 0.11]}}
    assert uncertainty(torn) == pytest.approx(0.99)
    assert uncertainty(sure) == pytest.approx(0.15)
    assert uncertainty({"confidence": {"data": [float("nan")]}}) is None
    made = [
        StoredRecord(replace(record(0), outputs={**sure, "predict": {"shape": [1], "data": ["a"]}})),
        StoredRecord(replace(record(1), outputs={**torn, "predict": {"shape": [1], "data": ["a"]}})),
        StoredRecord(
            replace(record(2), outputs={**torn, "predict": {"shape": [1], "data": ["b"]}}),
            Feedback("p2", T0 + timedelta(seconds=9), label="a"),
        ),
    ]
    assert [s.record.prediction_id for s in needs_review(made)] == ["p1", "p0"]
