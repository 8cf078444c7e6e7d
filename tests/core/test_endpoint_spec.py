"""Endpoint specs: parsing, normalising and refusing (INVALID_ENDPOINT naming the problem)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.core.endpoints import EndpointSpec, TargetRef
from berth.core.errors import BerthError, ErrorCode


@pytest.mark.parametrize(
    ("text", "model", "version", "alias", "reference"),
    [
        ("churn@production", "churn", None, "production", "production"),
        ("churn:7", "churn", 7, None, "7"),
        ("churn", "churn", None, None, None),
        ("a.b-c_d@champ-1", "a.b-c_d", None, "champ-1", "champ-1"),
    ],
)
def test_target_references(
    text: str, model: str, version: int | None, alias: str | None, reference: str | None
) -> None:
    ref = TargetRef.parse(text)

    assert (ref.model, ref.version, ref.alias, ref.reference, str(ref)) == (
        model,
        version,
        alias,
        reference,
        text,
    )


@pytest.mark.parametrize(
    "text",
    ["", "churn:", "churn:0", "churn:-1", "churn:1.5", "churn@", "churn@1x", "../x", "a@latest", 3, None],
)
def test_bad_target_references(text: Any) -> None:
    with pytest.raises(BerthError) as caught:
        TargetRef.parse(text)
    assert caught.value.code is ErrorCode.INVALID_ENDPOINT


def test_a_full_spec_round_trips() -> None:
    body = {
        "targets": [{"target": "churn@production", "weight": 90}, {"target": "churn:7", "weight": 10}],
        "sticky": {"header": "X-Customer-Id", "field": "customer_id"},
        "canary": {
            "target": "churn:8",
            "steps": [5, 25],
            "interval_s": 30,
            "min_requests": 50,
            "max_error_rate_increase": 0.01,
            "max_latency_ratio": 1.5,
            "step": 1,
            "step_started_at": datetime(2026, 1, 2, tzinfo=UTC).isoformat(),
        },
        "shadows": [{"target": "next:1", "fraction": 0.25}],
        "pipeline": {"post": [{"type": "map", "column": "predict", "into": "team", "mapping": {"a": "b"}}]},
    }

    spec = EndpointSpec.from_json(body)

    assert spec.sticky is not None
    assert spec.sticky.header == "x-customer-id"
    assert spec.canary is not None
    assert spec.canary.weight == 25
    assert EndpointSpec.from_json(spec.to_json()) == spec
    assert [str(r) for r in spec.referenced()] == ["churn@production", "churn:7", "churn:8", "next:1"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "'targets' must be a list"),
        ({"targets": []}, "must not be empty"),
        ({"targets": [{"target": "a", "weight": 0}]}, "positive"),
        ({"targets": [{"target": "a", "weight": -1}]}, "at least 0"),
        ({"targets": [{"target": "a", "weight": float("nan")}]}, "finite"),
        ({"targets": [{"target": "a", "weight": True}]}, "must be a number"),
        ({"targets": [{"target": "a", "extra": 1}]}, "unknown field 'extra'"),
        ({"targets": [{"target": "a"}], "nope": 1}, "unknown field 'nope'"),
        ({"targets": [{"target": "a"}, {"target": "a"}]}, "named twice"),
        ({"targets": [{"target": "a"}], "shadows": [{"target": "a"}]}, "named twice"),
        ({"targets": [{"target": "a"}], "sticky": {}}, "'header' and/or a 'field'"),
        ({"targets": [{"target": "a"}], "sticky": {"header": "bad header"}}, "not a valid header"),
        ({"targets": [{"target": "a"}], "canary": {"target": "b", "steps": [10, 5]}}, "increasing"),
        ({"targets": [{"target": "a"}], "canary": {"target": "b", "steps": [0]}}, "above 0"),
        ({"targets": [{"target": "a"}], "canary": {"target": "b", "steps": [150]}}, "between 0 and 100"),
        ({"targets": [{"target": "a"}], "canary": {"target": "b", "step": 5}}, "index"),
        ({"targets": [{"target": "a"}], "canary": {"target": "b", "max_latency_ratio": 0.5}}, "at least 1"),
        (
            {"targets": [{"target": "a"}], "canary": {"target": "b", "step_started_at": "yesterday"}},
            "ISO 8601",
        ),
        ({"targets": [{"target": "a"}], "shadows": [{"target": "b", "fraction": 2}]}, "between 0 and 1"),
        ({"targets": [{"target": "a"}], "pipeline": []}, "'pipeline' must be an object"),
        ({"targets": [{"target": f"m{i}"} for i in range(17)]}, "at most 16"),
        ({"targets": [{"target": "a"}], "shadows": [{"target": f"s{i}"} for i in range(5)]}, "at most 4"),
        (
            {"targets": [{"target": "a"}], "canary": {"target": "b", "steps": list(range(1, 22))}},
            "at most 20 steps",
        ),
        ({"targets": [{"target": "a" * 261}]}, "at most 260 characters"),
        ({"targets": [{"target": "a"}], "sticky": {"field": "f" * 129}}, "not a valid field name"),
        ({"targets": [{"target": "a"}], "canary": {"target": "b", "interval_s": 86401}}, "and 86400"),
    ],
)
def test_structural_mistakes_are_refused_with_a_clear_message(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(BerthError) as caught:
        EndpointSpec.from_json(body)

    assert caught.value.code is ErrorCode.INVALID_ENDPOINT
    assert fragment in caught.value.message


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
SPECISH = st.fixed_dictionaries(
    {},
    optional={
        "targets": st.lists(
            st.fixed_dictionaries(
                {}, optional={"target": JSON | st.sampled_from(["a", "a:1", "a@b"]), "weight": JSON}
            ),
            max_size=3,
        )
        | JSON,
        "sticky": JSON,
        "canary": JSON,
        "shadows": JSON,
        "pipeline": JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(body=JSON | SPECISH)
def test_any_json_is_a_spec_or_invalid_endpoint(body: Any) -> None:
    try:
        spec = EndpointSpec.from_json(body)
    except BerthError as exc:
        code = exc.code
    else:
        code = None
        assert EndpointSpec.from_json(spec.to_json()) == spec
    assert code in (None, ErrorCode.INVALID_ENDPOINT)
