"""Every correction is used by the next retrain or refused with its reason: a label on a batched
prediction (one label cannot name its rows) and feedback without a label are counted by reason, in
the job's progress and result, never skipped silently."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from the_voice.trainer import VoiceTrainer

from berth.control.retraining.corrections import read_corrections
from berth.core.records import Feedback, IngestBatch
from berth.storage.sql_records import SqlRecordStore
from tests.records.builders import T0, record


def test_corrections_a_retrain_cannot_use_are_refused_with_their_reason(tmp_path: Path) -> None:
    store = SqlRecordStore(f"sqlite:///{tmp_path / 'records.db'}")
    try:
        one = record(1, text="my card has not arrived")
        batched = replace(
            record(2),
            inputs={"text": {"datatype": "BYTES", "shape": [2], "data": ["lost card", "top up failed"]}},
        )
        valued = record(3, text="how do I top up")
        store.ingest(IngestBatch([one, batched, valued], None))
        report = store.add_feedback(
            [
                Feedback("p1", T0, label="card_arrival"),
                Feedback("p2", T0, label="lost_or_stolen_card"),
                Feedback("p3", T0, value=1.0),
            ]
        )
        assert report.stored == 3
        found = read_corrections(store, "router", VoiceTrainer(), holdout_percent=0)
    finally:
        store.close()
    assert found.train_rows == ["my card has not arrived"]
    assert found.train_labels == ["card_arrival"]
    assert found.skipped == 2
    assert found.refused == {
        "a batched prediction: one label cannot name its rows": 1,
        "feedback without a label (a value only)": 1,
    }
