"""The lookup pre-step: one call to the entity source per request; missing keys."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from berth.core.errors import BerthError, ErrorCode
from berth.runtime.pipeline import Frame, InMemoryEntitySource, StepContext

from .helpers import fails, frame, invalid, pre

CUSTOMERS = {"customers": {"1": {"age": 30, "segment": "gold"}, "2": {"age": 51.5, "segment": "silver"}}}


def lookup(on_missing: str = "error", key: str = "customer_id") -> list[dict[str, Any]]:
    spec = {"type": "lookup", "table": "customers", "key": key, "features": ["age", "segment"]}
    return [{**spec, "on_missing": on_missing}]


def test_features_are_added_in_one_call() -> None:
    source = InMemoryEntitySource(CUSTOMERS)
    result = pre(lookup(), frame(customer_id=[1, 2, 1]), StepContext(entity_source=source))
    assert result["age"].tolist() == [30.0, 51.5, 30.0]
    assert result["segment"].tolist() == ["gold", "silver", "gold"]
    assert source.calls == 1


def test_text_keys_and_integer_features() -> None:
    source = InMemoryEntitySource(CUSTOMERS)
    result = pre(lookup(), frame(customer_id=["1", "1"]), StepContext(entity_source=source))
    assert result["age"].dtype == np.int64


def test_a_missing_key_is_entity_not_found_naming_it() -> None:
    ctx = StepContext(entity_source=InMemoryEntitySource(CUSTOMERS))
    error = fails(
        lambda: pre(lookup(), frame(customer_id=[1, 9]), ctx),
        "key '9'",
        "'customers'",
        "1 of 2 rows",
        code=ErrorCode.ENTITY_NOT_FOUND,
    )
    assert error.details["key"] == "9"
    fails(
        lambda: pre(lookup(), frame(customer_id=["1", ""]), ctx),
        "a missing key",
        code=ErrorCode.ENTITY_NOT_FOUND,
    )


def test_missing_keys_give_null_features_when_asked() -> None:
    ctx = StepContext(entity_source=InMemoryEntitySource(CUSTOMERS))
    result = pre(lookup("null"), Frame({"customer_id": np.array(["2", None, "7"], dtype=object)}), ctx)
    age = result["age"].tolist()
    assert age[0] == 51.5
    assert math.isnan(age[1])
    assert math.isnan(age[2])
    assert result["segment"].tolist() == ["silver", None, None]


def test_no_rows_makes_no_call() -> None:
    source = InMemoryEntitySource(CUSTOMERS)
    result = pre(
        lookup("null"), frame(customer_id=np.array([], dtype=np.int64)), StepContext(entity_source=source)
    )
    assert result.rows == 0
    assert source.calls == 0


def test_a_float_or_2d_key_column_fails() -> None:
    ctx = StepContext(entity_source=InMemoryEntitySource(CUSTOMERS))
    fails(lambda: pre(lookup(), frame(customer_id=[1.0]), ctx), "text or integers")
    fails(
        lambda: pre(lookup(), Frame({"customer_id": np.ones((1, 2), dtype=np.int64)}), ctx),
        "text or integers",
    )
    fails(lambda: pre(lookup(), frame(other=[1]), ctx), "no column 'customer_id'")


def test_features_mixing_kinds_fail() -> None:
    source = InMemoryEntitySource(
        {"customers": {"1": {"age": "old", "segment": "a"}, "2": {"age": 3, "segment": "b"}}}
    )
    fails(
        lambda: pre(lookup(), frame(customer_id=[1, 2]), StepContext(entity_source=source)), "feature 'age'"
    )


class BrokenSource:
    async def lookup(self, table: str, keys: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        raise ConnectionError("database is down")


class UnavailableSource:
    async def lookup(self, table: str, keys: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        raise BerthError(ErrorCode.UNAVAILABLE, "feature store unavailable")


def test_a_failing_source_is_a_step_failure() -> None:
    error = fails(
        lambda: pre(lookup(), frame(customer_id=[1]), StepContext(entity_source=BrokenSource())),
        "pre[0] (lookup) failed: ConnectionError: database is down",
    )
    assert error.details["type"] == "lookup"
    error = fails(
        lambda: pre(lookup(), frame(customer_id=[1]), StepContext(entity_source=UnavailableSource()))
    )
    assert error.details["cause"] == "unavailable"


def test_lookup_spec_errors() -> None:
    base = {"type": "lookup", "table": "customers", "key": "id", "features": ["a"]}
    invalid({"pre": [{**base, "on_missing": "skip"}]}, "pre[0] (lookup)", "'error' or 'null'")
    invalid({"pre": [{**base, "table": ""}]}, "'table' must be a non-empty string")
    invalid({"pre": [{**base, "features": "a"}]}, "'features' must be a non-empty list")
    invalid({"pre": [{k: v for k, v in base.items() if k != "key"}]}, "missing key 'key'")


def test_the_in_memory_source_can_grow() -> None:
    source = InMemoryEntitySource()
    source.put("t", "k", {"f": 1})
    result = pre(
        [{"type": "lookup", "table": "t", "key": "id", "features": ["f"]}],
        frame(id=["k"]),
        StepContext(entity_source=source),
    )
    assert result["f"].tolist() == [1]


def test_a_context_without_entity_source_fails_the_lookup() -> None:
    error = fails(lambda: pre(lookup(), frame(customer_id=[1]), StepContext()), "no entity source")
    assert error.details["cause"] == ErrorCode.UNAVAILABLE.value
