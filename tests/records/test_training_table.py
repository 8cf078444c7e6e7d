"""The training-set layout of an export (`berth.control.training_sets`), on hand-made records:
wide tensors, batched rows, inputs named like the layout's columns, and versions with other inputs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from berth.control.record_exports import write_parquet
from berth.control.training_sets import training_table
from berth.core.records import Feedback, PredictionRecord, StoredRecord

AT = datetime(2026, 12, 1, tzinfo=UTC)


def _record(
    pid: str, version: int, inputs: dict, model_inputs: dict | None, label: str | None
) -> StoredRecord:
    record = PredictionRecord(
        prediction_id=pid,
        recorded_at=AT,
        endpoint="scoring",
        model="m",
        version=version,
        variant="main",
        inputs=inputs,
        model_inputs=model_inputs,
        outputs={"predict": {"datatype": "BYTES", "shape": [2], "data": ["a", "b"]}},
        latency_s=0.01,
    )
    feedback = None if label is None else Feedback(prediction_id=pid, label=label, observed_at=AT)
    return StoredRecord(record, feedback)


def test_rows_wide_tensors_collisions_and_missing_inputs(tmp_path: Path) -> None:
    wide = {"x": {"datatype": "FP64", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}}
    named = {
        "row": {"datatype": "INT64", "shape": [2], "data": [7, 8]},
        "age": {"datatype": "FP64", "shape": [2], "data": [30.5, 40.5]},
    }
    export = tmp_path / "export.parquet"
    write_parquet(
        [
            _record("p-1", 1, {"id": {"datatype": "BYTES", "shape": [2], "data": ["k", "l"]}}, wide, "yes"),
            _record("p-2", 2, named, None, None),
        ],
        export,
    )
    table = training_table(pq.read_table(export)).to_pylist()
    assert [(r["prediction_id"], r["row"], r["rows"], r["version"]) for r in table] == [
        ("p-1", 0, 2, 1),
        ("p-1", 1, 2, 1),
        ("p-2", 0, 2, 2),
        ("p-2", 1, 2, 2),
    ]
    # the model inputs (not the request's `id`); a [2, 3] tensor gives 3 values a row
    assert [r["x"] for r in table] == [[1, 2, 3], [4, 5, 6], None, None]
    assert "id" not in table[0]
    # no pre-step ran: the inputs are the model's; `row` is the layout's, so the input is input.row
    assert [r["input.row"] for r in table] == [None, None, 7, 8]
    assert [r["age"] for r in table] == [None, None, 30.5, 40.5]
    assert [r["output.predict"] for r in table] == ["a", "b", "a", "b"]
    assert [r["feedback_label"] for r in table] == ["yes", "yes", None, None]
    assert table[0]["recorded_at"] == AT


def test_an_empty_export_gives_an_empty_training_set(tmp_path: Path) -> None:
    export = tmp_path / "export.parquet"
    write_parquet([], export)
    assert training_table(pq.read_table(export)).num_rows == 0
