"""The point-in-time join of an export's records (`berth.control.feature_joins`) over a real Parquet
history: where each predicted row's key is found (the served inputs, then the request's, then the
record's entity key), one value per row of a batched record, and the training set's layout of the
joined columns (one row per predicted row)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from berth.control.feature_joins import joined_columns, resolve_joins
from berth.control.record_exports import SCHEMA
from berth.control.training_sets import training_table
from berth.core.errors import BerthError, ErrorCode
from berth.core.features import FeatureView, parse_view
from berth.storage.parquet_history import HomeParquet, ParquetHistory

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
AT = pa.timestamp("us", tz="UTC")


@pytest.fixture
def view(tmp_path: Path) -> FeatureView:
    pq.write_table(
        pa.table(
            {
                "account": ["a-1", "a-2", "a-1", "7"],
                "event_timestamp": pa.array(
                    [T0 - timedelta(hours=2), T0 - timedelta(hours=1), T0 + timedelta(hours=1), T0], AT
                ),
                "limit": [100, 200, 999, 70],
            }
        ),
        tmp_path / "limits.parquet",
    )
    return parse_view(
        {"name": "limits", "entity": "account", "features": {"limit": "int64"}, "offline": "limits.parquet"}
    )


def _record(prediction_id: str, inputs: dict[str, list[object]], model_inputs: dict[str, list[object]] | None,
            entity_key: str | None = None) -> dict[str, object]:  # fmt: skip
    def tensors(values: dict[str, list[object]]) -> str:
        return orjson.dumps(
            {n: {"datatype": "BYTES", "shape": [len(v)], "data": v} for n, v in values.items()}
        ).decode()

    return {name: None for name in SCHEMA.names} | {
        "prediction_id": prediction_id,
        "recorded_at": T0,
        "entity_key": entity_key,
        "inputs": tensors(inputs),
        "model_inputs": None if model_inputs is None else tensors(model_inputs),
        "outputs": tensors({"label": ["x"] * len(next(iter((model_inputs or inputs).values())))}),
    }


def test_each_rows_key_is_found_and_joined_as_of_its_records_time(view: FeatureView, tmp_path: Path) -> None:
    records = pa.Table.from_pylist(
        [
            _record("p-served", {"customer": ["x"]}, {"account": ["a-1"], "age": [3]}),  # served inputs
            _record("p-batch", {"account": ["a-2", "a-1", "nobody"]}, {"age": [1, 2, 3]}),  # the request's
            _record("p-entity", {"age": [5]}, None, entity_key="a-2"),  # the record's entity key
            _record("p-int", {"account": [7]}, {"age": [4]}),  # an integer key is read as text
        ],
        schema=SCHEMA,
    )
    history = ParquetHistory(view, HomeParquet(tmp_path, "limits.parquet"))
    joins = resolve_joins([{"view": "limits"}], lambda name: view)
    columns = joined_columns(records, joins, lambda _: history)
    assert columns["limits.limit"].to_pylist() == [[100], [200, 100, None], [200], [70]]
    table = training_table(records.append_column("limits.limit", columns["limits.limit"]))
    assert table.column("limits.limit").to_pylist() == [100, 200, 100, None, 200, 70]
    assert table.column_names.index("limits.limit") == table.column_names.index("feedback_label") - 1


def test_a_join_names_an_existing_view_with_a_history_and_its_features(view: FeatureView) -> None:
    plain = parse_view({"name": "plain", "entity": "account", "features": {"limit": "int64"}})
    views = {"limits": view, "plain": plain}

    def view_of(name: str) -> FeatureView:
        if name not in views:
            raise BerthError(ErrorCode.ENTITY_TABLE_NOT_FOUND, f"feature view {name!r} not found")
        return views[name]

    for specs, code in (
        ([{"view": "nope"}], ErrorCode.ENTITY_TABLE_NOT_FOUND),
        ([{"view": "plain"}], ErrorCode.INVALID_OFFLINE_SOURCE),
        ([{"view": "limits", "features": ["balance"]}], ErrorCode.INVALID_REQUEST),
        ([{"view": "limits"}, {"view": "limits"}], ErrorCode.INVALID_REQUEST),
        ([{"view": "limits", "colour": "red"}], ErrorCode.INVALID_REQUEST),
    ):
        with pytest.raises(BerthError) as caught:
            resolve_joins(specs, view_of)
        assert caught.value.code is code, specs
    [join] = resolve_joins([{"view": "limits", "key": "acct"}], view_of)
    assert (join.features, join.key) == (("limit",), "acct")
