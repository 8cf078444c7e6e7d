"""Record store contract (SQLite and PostgreSQL): ingestion with positions, queries, feedback, erasure."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.core.records import (
    EntityFeedback,
    Feedback,
    FeedbackOutcome,
    IngestBatch,
    JournalPosition,
    PredictionRecord,
    RecordQuery,
)
from berth.storage.sql_records import SqlRecordStore
from berth.storage.sql_registry import SqlRegistryStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def records(store: SqlRegistryStore) -> Iterator[SqlRecordStore]:
    """The record store sharing the registry store's (migrated) database."""
    opened = SqlRecordStore(store.engine)
    yield opened
    opened.close()


def record(pid: str, seconds: float = 0, **fields: Any) -> PredictionRecord:
    values: dict[str, Any] = {
        "prediction_id": pid,
        "recorded_at": T0 + timedelta(seconds=seconds),
        "endpoint": "churn",
        "model": "churn",
        "version": 1,
        "variant": "",
        "inputs": {"x": {"datatype": "FP32", "shape": [1, 2], "data": [1.5, 2.0]}},
        "outputs": {"label": {"datatype": "INT64", "shape": [1], "data": [1]}},
        "latency_s": 0.002,
    }
    values.update(fields)
    return PredictionRecord(**values)


def ingest(store: SqlRecordStore, *recs: PredictionRecord, position: JournalPosition | None = None) -> int:
    return store.ingest(IngestBatch(records=list(recs), position=position))


def ids(store: SqlRecordStore, query: RecordQuery) -> list[str]:
    return [r.record.prediction_id for r in store.query(query).records]


def _code(call: Callable[[], object]) -> ErrorCode:
    with pytest.raises(BerthError) as caught:
        call()
    return caught.value.code


# -- ingestion ---------------------------------------------------------------------------------


def test_ingested_records_read_back_whole(records: SqlRecordStore) -> None:
    full = record(
        "p1",
        model_inputs={"x": {"datatype": "FP64", "shape": [1, 3], "data": [1.5, 2.0, 7.0]}},
        entity_key="customer-7",
        variant="churn@production",
    )
    assert ingest(records, full, record("p2", 1)) == 2

    [stored] = records.get("p1")

    assert stored.record == full
    assert stored.feedback is None
    assert stored.record.recorded_at.tzinfo is not None


def test_the_features_served_read_back_with_the_record_and_none_without(records: SqlRecordStore) -> None:
    served = [
        {
            "view": "customer-profile",
            "read_at": 1764999999.25,
            "keys": ["c-1", "c-2", None],
            "outcomes": ["hit", "stale", None],
            "written_at": [1764990000.5, 1700000000.0, None],
        },
        {
            "view": "risk",
            "read_at": 1764999999.5,
            "keys": ["c-1"],
            "outcomes": ["unavailable"],
            "written_at": [None],
        },
    ]
    ingest(records, record("p1", features_served=served), record("p2", 1))

    [with_features] = records.get("p1")
    [without] = records.get("p2")

    assert with_features.record.features_served == served
    assert with_features.to_json()["features_served"] == served
    assert without.record.features_served is None
    assert without.to_json()["features_served"] is None


def test_ingest_saves_the_position_with_the_records(records: SqlRecordStore) -> None:
    ingest(records, record("p1"), position=JournalPosition("a.jrnl", 120))
    ingest(records, record("p2"), position=JournalPosition("a.jrnl", 240))
    ingest(records, position=JournalPosition("b.jrnl", 0, finished=True))

    assert records.journal_positions() == {
        "a.jrnl": JournalPosition("a.jrnl", 240),
        "b.jrnl": JournalPosition("b.jrnl", 0, finished=True),
    }
    records.forget_segments(["a.jrnl", "gone.jrnl"])
    assert list(records.journal_positions()) == ["b.jrnl"]


def test_a_failed_ingest_saves_neither_records_nor_position(records: SqlRecordStore) -> None:
    unwritable = record("p2", inputs={"x": {"data": {1, 2}}})  # not JSON: the whole batch fails

    with pytest.raises(BerthError):
        ingest(records, record("p1"), unwritable, position=JournalPosition("a.jrnl", 99))

    assert records.journal_positions() == {}
    assert records.count(RecordQuery()) == 0


def test_many_records_in_one_batch(records: SqlRecordStore) -> None:
    batch = [record(f"p{i}", i / 1000, entity_key=f"e{i % 7}") for i in range(2000)]

    assert ingest(records, *batch, position=JournalPosition("a.jrnl", 1)) == 2000
    assert records.count(RecordQuery()) == 2000
    assert records.count(RecordQuery(entity_key="e3")) == len([i for i in range(2000) if i % 7 == 3])


def test_prediction_ids_are_not_unique_and_shadows_share_their_callers_id(records: SqlRecordStore) -> None:
    ingest(
        records,
        record("p1"),
        record("p1", 5),
        record("p1~fraud:2", 0.5, model="fraud", version=2, shadow_of="p1"),
    )

    got = records.get("p1")

    assert [(r.record.prediction_id, r.record.shadow_of) for r in got] == [
        ("p1", None),
        ("p1~fraud:2", "p1"),
        ("p1", None),
    ]
    assert records.count(RecordQuery()) == 2
    assert records.count(RecordQuery(include_shadows=True)) == 3


# -- queries -----------------------------------------------------------------------------------


def test_a_keyed_record_is_stored_once_however_often_it_arrives(records: SqlRecordStore) -> None:
    """Records from a record stream carry a key; a redelivery (in another batch, or twice in one) is
    skipped, while unkeyed (journal) records with one prediction id are all kept."""
    first = record("p1", record_key="p:churn/p1")
    shadow = record("p1~churn:2", 1, shadow_of="p1", record_key="s:churn/p1~churn:2")

    assert ingest(records, first, shadow, record("p1", 2)) == 3
    assert ingest(records, first, first, record("p1", 3), shadow) == 1

    assert records.count(RecordQuery(include_shadows=True)) == 4
    assert [r.record.prediction_id for r in records.get("p1")] == ["p1", "p1~churn:2", "p1", "p1"]


def test_query_is_newest_first_and_pages_with_a_cursor(records: SqlRecordStore) -> None:
    ingest(records, *[record(f"p{i}", i) for i in range(7)])
    ingest(records, record("same-time-a", 3), record("same-time-b", 3))  # ties broken by row id

    seen: list[str] = []
    after = None
    while True:
        page = records.query(RecordQuery(limit=2, after=after))
        seen += [r.record.prediction_id for r in page.records]
        after = page.next_cursor
        if after is None:
            break

    assert seen == ["p6", "p5", "p4", "same-time-b", "same-time-a", "p3", "p2", "p1", "p0"]


def test_query_filters(records: SqlRecordStore) -> None:
    ingest(
        records,
        record("a", 0),
        record("b", 10, version=2, variant="churn:2"),
        record("c", 20, endpoint="fraud", model="fraud"),
        record("d", 30, entity_key="k1"),
        record("e", 40, endpoint="checkout", model="churn", version=2),
    )

    assert ids(records, RecordQuery(endpoint="churn")) == ["d", "b", "a"]
    assert ids(records, RecordQuery(model="churn", version=2)) == ["e", "b"]
    assert ids(records, RecordQuery(variant="churn:2")) == ["b"]
    assert ids(records, RecordQuery(entity_key="k1")) == ["d"]
    assert ids(records, RecordQuery(start=T0 + timedelta(seconds=10), end=T0 + timedelta(seconds=30))) == [
        "c",
        "b",
    ]
    assert records.count(RecordQuery(endpoint="churn", start=T0 + timedelta(seconds=5))) == 2
    assert ids(records, RecordQuery(start=T0, end=T0)) == []


@pytest.mark.parametrize(
    "query",
    [
        RecordQuery(limit=0),
        RecordQuery(limit=100_000),
        RecordQuery(start=T0, end=T0 - timedelta(seconds=1)),
        RecordQuery(start=datetime(2026, 1, 1)),  # naive
    ],
)
def test_bad_queries_are_refused(records: SqlRecordStore, query: RecordQuery) -> None:
    assert _code(lambda: records.query(query)) is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    "cursor",
    ["not a cursor", "2026-01-01T00:00:00_x", "2026-01-01T00:00:00+00:00_5", "", "e30", "W10", "eyJrIjoxfQ"],
)
def test_bad_cursors_are_invalid_cursor(records: SqlRecordStore, cursor: str) -> None:
    assert _code(lambda: records.query(RecordQuery(after=cursor))) is ErrorCode.INVALID_CURSOR


def test_an_empty_store_answers_empty(records: SqlRecordStore) -> None:
    page = records.query(RecordQuery())

    assert page.records == []
    assert page.next_cursor is None
    assert records.get("nothing") == []
    assert list(records.labelled()) == []
    assert records.purge_before(T0) == 0


# -- feedback ----------------------------------------------------------------------------------


def test_feedback_joins_records_and_unknown_ids_are_reported(records: SqlRecordStore) -> None:
    ingest(records, record("p1"), record("p2", 1), record("p1~fraud:2", 2, shadow_of="p1"))

    report = records.add_feedback(
        [
            Feedback("p1", T0 + timedelta(hours=1), label="yes", source="crm"),
            Feedback("nope", T0, label="no"),
            Feedback("p1~fraud:2", T0, label="no"),  # a shadow's own id takes no feedback
        ]
    )

    assert report.outcomes == (
        ("p1", FeedbackOutcome.STORED),
        ("nope", FeedbackOutcome.UNKNOWN_PREDICTION),
        ("p1~fraud:2", FeedbackOutcome.UNKNOWN_PREDICTION),
    )
    assert report.stored == 1
    assert report.unknown == ["nope", "p1~fraud:2"]
    caller, shadow = records.get("p1")
    assert caller.feedback == Feedback("p1", T0 + timedelta(hours=1), label="yes", source="crm")
    assert shadow.feedback == caller.feedback  # a shadow is judged by its caller's truth
    assert ids(records, RecordQuery(with_feedback=True)) == ["p1"]
    assert ids(records, RecordQuery(with_feedback=False)) == ["p2"]


def test_feedback_is_idempotent_and_the_last_one_wins(records: SqlRecordStore) -> None:
    ingest(records, record("p1"))
    first = Feedback("p1", T0, value=3.5)

    records.add_feedback([first])
    records.add_feedback([first])
    assert records.get("p1")[0].feedback == first

    records.add_feedback([Feedback("p1", T0, value=1.0), Feedback("p1", T0, label="b")])
    assert records.get("p1")[0].feedback == Feedback("p1", T0, label="b")


def test_feedback_applies_to_every_record_with_the_id(records: SqlRecordStore) -> None:
    ingest(records, record("p1"), record("p1", 1))

    records.add_feedback([Feedback("p1", T0, label="x")])

    assert [r.feedback is not None for r in records.get("p1")] == [True, True]


@pytest.mark.parametrize(
    "item",
    [
        Feedback("", T0, label="x"),
        Feedback("p" * 129, T0, label="x"),
        Feedback("p1", T0),  # neither label nor value
        Feedback("p1", T0, value=float("nan")),
        Feedback("p1", T0, value=True),
        Feedback("p1", T0, label="x" * 300),
        Feedback("p1", datetime(2026, 1, 1), label="x"),  # naive
        Feedback("p1", T0, label="x", source="s" * 300),
    ],
)
def test_bad_feedback_is_refused_whole(records: SqlRecordStore, item: Feedback) -> None:
    ingest(records, record("p1"))

    assert (
        _code(lambda: records.add_feedback([Feedback("p1", T0, label="ok"), item]))
        is ErrorCode.INVALID_REQUEST
    )
    assert records.get("p1")[0].feedback is None


def test_entity_feedback_goes_to_the_latest_prediction_before_the_observation(
    records: SqlRecordStore,
) -> None:
    ingest(
        records,
        record("old", 0, entity_key="c1"),
        record("new", 60, entity_key="c1"),
        record("later", 600, entity_key="c1"),
        record("other-endpoint", 70, entity_key="c1", endpoint="fraud"),
        record("new~x:1", 61, entity_key="c1", shadow_of="new"),
    )

    report = records.add_entity_feedback(
        [
            EntityFeedback("c1", "churn", T0 + timedelta(seconds=120), label="churned"),
            EntityFeedback("c2", "churn", T0 + timedelta(seconds=120), label="churned"),
            EntityFeedback("c1", "churn", T0 - timedelta(seconds=1), label="early"),
        ]
    )

    assert report.outcomes == (
        ("c1", FeedbackOutcome.STORED),
        ("c2", FeedbackOutcome.UNKNOWN_PREDICTION),
        ("c1", FeedbackOutcome.UNKNOWN_PREDICTION),
    )
    labelled = {r.record.prediction_id: r.feedback for r in records.query(RecordQuery()).records}
    assert labelled["new"] is not None
    assert labelled["new"].label == "churned"
    assert labelled["old"] is None
    assert labelled["later"] is None
    assert labelled["other-endpoint"] is None


def test_labelled_streams_caller_facing_predictions_with_feedback_oldest_first(
    records: SqlRecordStore,
) -> None:
    batch = [record(f"p{i}", i, version=1 + i % 2) for i in range(5000)]
    batch.append(record("p3~x:1", 3.5, shadow_of="p3"))
    ingest(records, *batch)
    records.add_feedback([Feedback(f"p{i}", T0, value=float(i)) for i in range(0, 5000, 2)])
    records.add_feedback([Feedback("p3", T0, label="three")])

    stream = records.labelled(endpoint="churn")
    first = next(stream)
    rest = list(stream)

    assert first.prediction_id == "p0"
    assert first.value == 0.0
    assert first.label is None
    assert first.outputs == batch[0].outputs
    assert len(rest) == 2500
    assert rest[0].prediction_id == "p2"
    assert rest[1].label == "three"
    assert all(a.recorded_at <= b.recorded_at for a, b in itertools.pairwise(rest))
    windowed = records.labelled(start=T0 + timedelta(seconds=100), end=T0 + timedelta(seconds=110))
    assert [p.prediction_id for p in windowed] == [f"p{i}" for i in range(100, 110, 2)]
    assert list(records.labelled(model="fraud")) == []


# -- erasure and retention ---------------------------------------------------------------------


def test_erasing_an_entity_removes_its_records_and_feedback(records: SqlRecordStore) -> None:
    ingest(
        records,
        record("p1", 0, entity_key="c1"),
        record("p1~x:1", 0.5, entity_key="c1", shadow_of="p1"),
        record("p2", 1, entity_key="c2"),
    )
    records.add_feedback([Feedback("p1", T0, label="a"), Feedback("p2", T0, label="b")])

    report = records.erase_entity("c1", T0 + timedelta(seconds=10))

    assert (report.records, report.feedback) == (2, 1)
    assert records.get("p1") == []
    assert records.count(RecordQuery(include_shadows=True)) == 1
    assert records.get("p2")[0].feedback is not None


def test_records_of_an_erased_entity_still_in_a_journal_are_dropped(records: SqlRecordStore) -> None:
    records.erase_entity("c1", T0 + timedelta(seconds=10))
    records.erase_entity("c1", T0 + timedelta(seconds=5))  # an earlier erasure never shortens it

    inserted = ingest(
        records,
        record("before", 9, entity_key="c1"),
        record("at", 10, entity_key="c1"),
        record("after", 11, entity_key="c1"),
        record("someone-else", 9, entity_key="c2"),
        position=JournalPosition("a.jrnl", 10),
    )

    assert inserted == 2
    assert ids(records, RecordQuery()) == ["after", "someone-else"]
    assert records.journal_positions()["a.jrnl"].offset == 10


@pytest.mark.parametrize("key", ["", "k" * 257])
def test_bad_entity_keys_are_refused(records: SqlRecordStore, key: str) -> None:
    assert _code(lambda: records.erase_entity(key, T0)) is ErrorCode.INVALID_REQUEST
    bad = EntityFeedback(key, "churn", T0, label="x")
    assert _code(lambda: records.add_entity_feedback([bad])) is ErrorCode.INVALID_REQUEST


def test_purge_removes_old_records_and_their_feedback(
    records: SqlRecordStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("berth.storage.sql_records.PURGE_CHUNK", 7)  # several chunks
    ingest(records, *[record(f"old{i}", i) for i in range(20)], record("new", 100), record("old3", 200))
    records.add_feedback([Feedback("old1", T0, label="x"), Feedback("old3", T0, label="y")])

    purged = records.purge_before(T0 + timedelta(seconds=50))

    assert purged == 20
    assert ids(records, RecordQuery()) == ["old3", "new"]
    assert records.get("old3")[0].feedback is not None  # a newer record still holds the id
    assert records.add_feedback([Feedback("old1", T0, label="x")]).unknown == ["old1"]
    ingest(records, record("old1", 300))
    assert records.get("old1")[0].feedback is None  # its feedback went with it
