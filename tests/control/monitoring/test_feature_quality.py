"""Served features' quality from records (`feature_quality`): null rates from the model's inputs,
freshness from the store's rows of the keys served, and what it says when it cannot know."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from berth.control.monitoring.feature_quality import ServedView, feature_quality, worst
from berth.core.features import FeatureView, parse_view
from berth.core.records import TensorsJson
from berth.storage.feature_protocols import StoredRow

NOW = 1_800_000_000.0
VIEW = parse_view(
    {
        "name": "profile",
        "entity": "customer_id",
        "features": {"age": "float64", "segment": "string"},
        "ttl_s": 100,
    }
)
SERVED = ServedView(VIEW, "customer_id", ("age", "segment"))


def _record(
    keys: list[Any], ages: list[float | None], segments: list[str | None]
) -> tuple[TensorsJson, TensorsJson]:
    key_type = "INT64" if isinstance(keys[0], int) else "BYTES"
    inputs = {"customer_id": {"datatype": key_type, "shape": [len(keys)], "data": keys}}
    model_inputs = {
        "age": {"datatype": "FP64", "shape": [len(ages)], "data": ages},
        "segment": {"datatype": "BYTES", "shape": [len(segments)], "data": segments},
    }
    return inputs, model_inputs


class Store:
    """A view's rows as a store answers them, and the keys it was asked for."""

    def __init__(self, rows: Mapping[str, StoredRow] | None) -> None:
        self.rows = rows
        self.asked: list[list[str]] = []

    def read(self, view: FeatureView, keys: Sequence[str]) -> Mapping[str, StoredRow] | None:
        self.asked.append(list(keys))
        return None if self.rows is None else {k: self.rows[k] for k in keys if k in self.rows}


def test_null_rates_and_freshness_of_one_view() -> None:
    store = Store(
        {
            "a": StoredRow({"age": 1}, NOW - 10),
            "b": StoredRow({"age": 2}, NOW - 500),  # older than the TTL
        }
    )
    records = [_record(["a", "b"], [30.0, None], ["x", ""]), _record(["c", "a"], [None, 31.0], [None, "y"])]
    [view] = feature_quality([SERVED], records, store.read, NOW)
    assert store.asked == [["a", "b", "c"]]  # distinct keys, in order
    rates = {f["feature"]: (f["rows"], f["nulls"], f["null_rate"]) for f in view["features"]}
    assert rates == {"age": (4, 2, 0.5), "segment": (4, 2, 0.5)}
    fresh = view["freshness"]
    assert (fresh["status"], fresh["entities"]) == ("ok", 3)
    assert fresh["missing_share"] == pytest.approx(1 / 3)
    assert fresh["stale_share"] == pytest.approx(1 / 3)
    assert fresh["age_s"]["max"] == 500
    assert fresh["age_p95_over_ttl"] == pytest.approx(fresh["age_s"]["p95"] / 100)
    assert worst([view], "null_rate") == (0.5, 4)
    assert worst([view], "missing_share") == (pytest.approx(1 / 3), 3)


def test_integer_keys_are_read_as_the_features_step_reads_them() -> None:
    store = Store({"7": StoredRow({}, NOW)})
    [view] = feature_quality(
        [SERVED], [_record([7, 8, 7], [1.0, 2.0, 3.0], ["a", "b", "c"])], store.read, NOW
    )
    assert store.asked == [["7", "8"]]
    assert view["freshness"]["missing_share"] == 0.5


def test_a_store_that_does_not_answer_or_date_its_values() -> None:
    records = [_record(["a"], [1.0], ["x"])]
    [away] = feature_quality([SERVED], records, Store(None).read, NOW)
    assert away["freshness"]["status"] == "unavailable"
    assert away["freshness"]["stale_share"] is None
    assert away["features"][0]["null_rate"] == 0.0  # the records still say what was served
    [undated] = feature_quality([SERVED], records, Store({"a": StoredRow({}, None)}).read, NOW)
    assert undated["freshness"]["stale_share"] is None  # unknown, not 0
    assert undated["freshness"]["age_s"] == {"p50": None, "p95": None, "max": None}
    assert worst([away, undated], "stale_share") == (None, 0)


def test_no_records_and_a_feature_a_later_step_dropped() -> None:
    [empty] = feature_quality([SERVED], [], Store({}).read, NOW)
    assert empty["freshness"]["status"] == "no_data"
    assert [f["null_rate"] for f in empty["features"]] == [None, None]
    dropped = ServedView(VIEW, "customer_id", ("age", "income"))
    [view] = feature_quality([dropped], [_record(["a"], [1.0], ["x"])], Store({}).read, NOW)
    assert view["features"][1] == {
        "feature": "income",
        "dtype": None,
        "rows": 0,
        "nulls": None,
        "null_rate": None,
    }
    assert feature_quality([], [_record(["a"], [1.0], ["x"])], Store({}).read, NOW) == []


def test_lookups_at_serving_time_from_what_the_records_kept() -> None:
    kept = [
        [
            {
                "view": VIEW.name,
                "read_at": NOW,
                "keys": ["a", "b", None, "c"],
                "outcomes": ["hit", "stale", None, "miss"],
                "written_at": [NOW - 10, NOW - 500, None, None],
            },
            {
                "view": "other",
                "read_at": NOW,
                "keys": ["a"],
                "outcomes": ["unavailable"],
                "written_at": [None],
            },
        ],
        [{"view": VIEW.name, "read_at": NOW, "keys": ["a"], "outcomes": ["hit"], "written_at": [NOW - 30]}],
    ]
    records = [_record(["a"], [1.0], ["x"])]
    [view] = feature_quality([SERVED], records, Store({}).read, NOW, lookups=kept)
    assert view["lookups"] == {
        "records": 2,
        "rows": 4,  # a row without a key is no look-up
        "hit_share": 0.5,
        "miss_share": 0.25,
        "stale_share": 0.25,
        "unavailable_share": 0.0,
        "age_at_read_s": {"p50": 20.0, "p95": pytest.approx(29.0), "max": 30.0},  # the hits' ages
    }
    [before] = feature_quality([SERVED], records, Store({}).read, NOW)  # records that kept none
    assert before["lookups"]["rows"] == 0
    assert before["lookups"]["hit_share"] is None
    # alert rules' feature_miss_share: rows not served a fresh value (miss, stale, unavailable)
    assert worst([view], "miss_share") == (0.5, 4)
    assert worst([view, before], "miss_share") == (0.5, 4)  # a view without look-ups has no say
    assert worst([before], "miss_share") == (None, 0)
