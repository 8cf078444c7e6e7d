"""Reference profiles: kinds, summaries, naming, bounded size, JSON round trip, bad samples."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.control.monitoring.profile import (
    OTHER,
    CategoricalProfile,
    FeatureKind,
    NumericProfile,
    Profile,
    TextProfile,
)
from berth.control.monitoring.profiling import build_profile
from berth.core.errors import BerthError, ErrorCode


def test_a_numeric_feature_has_its_summary_histogram_and_a_bounded_seeded_reservoir() -> None:
    values = np.random.default_rng(0).normal(10.0, 2.0, size=50_000)
    values[:500] = np.nan

    profile = build_profile({"x": values})

    x = profile.inputs["x"]
    assert isinstance(x, NumericProfile)
    assert (x.count, x.missing) == (49_500, 500)
    assert x.mean == pytest.approx(10.0, abs=0.05)
    assert x.std == pytest.approx(2.0, abs=0.05)
    assert x.quantiles["0.5"] == pytest.approx(10.0, abs=0.05)
    assert len(x.edges) == 21
    assert sum(x.counts) == 49_500
    assert x.counts[0] == 0  # nothing below the minimum
    assert len(x.reservoir) == 2_000
    assert build_profile({"x": values}).inputs["x"] == x  # seeded: the same sample, the same profile


def test_the_kind_of_a_feature_follows_the_documented_rules() -> None:
    frame = pd.DataFrame(
        {
            "small_int": np.arange(300) % 4,
            "big_int": np.arange(300),
            "flag": np.arange(300) % 2 == 0,
            "colour": ["red", "green", "blue"] * 100,
            "comment": [f"comment number {i}" for i in range(300)],
            "ratio": np.linspace(0, 1, 300),
        }
    )

    kinds = {name: p.kind for name, p in build_profile(frame).inputs.items()}

    assert kinds == {
        "small_int": FeatureKind.CATEGORICAL,
        "big_int": FeatureKind.NUMERIC,
        "flag": FeatureKind.CATEGORICAL,
        "colour": FeatureKind.CATEGORICAL,
        "comment": FeatureKind.TEXT,
        "ratio": FeatureKind.NUMERIC,
    }
    flag = build_profile(frame).inputs["flag"]
    assert isinstance(flag, CategoricalProfile)
    assert flag.frequencies == {"true": 150, "false": 150}


def test_kinds_can_be_forced_and_a_list_of_strings_is_text() -> None:
    texts = ["good service", "bad service"] * 50

    assert build_profile(texts).inputs["input-0"].kind is FeatureKind.TEXT
    forced = build_profile({"code": [1.0, 2.0, 3.0] * 20}, kinds={"code": "categorical"})
    assert isinstance(forced.inputs["code"], CategoricalProfile)
    assert forced.inputs["code"].frequencies == {"1": 20, "2": 20, "3": 20}


def test_categories_keep_the_top_ones_and_count_the_rest_as_other() -> None:
    values = [f"c{i}" for i in range(80) for _ in range(i + 1)]

    profile = build_profile({"c": values})

    c = profile.inputs["c"]
    assert isinstance(c, CategoricalProfile)
    assert c.distinct == 80
    assert len(c.frequencies) == 51
    assert sum(c.frequencies.values()) == len(values)
    assert c.frequencies["c79"] == 80
    assert c.frequencies[OTHER] == sum(range(1, 31))


def test_text_has_length_statistics_vocabulary_and_an_oov_rate() -> None:
    texts = ["The cat sat", "the DOG ran far", "", None, *(f"word{i}" for i in range(600))]

    profile = build_profile({"t": texts}, kinds={"t": "text"})

    t = profile.inputs["t"]
    assert isinstance(t, TextProfile)
    assert (t.count, t.missing) == (602, 2)
    assert t.vocabulary["the"] == 2
    assert len(t.vocabulary) == 501
    assert 0 < t.oov_rate < 1
    assert t.tokens.max == 4


def test_features_are_named_like_the_tensors_a_record_keeps() -> None:
    array = np.ones((40, 3))

    assert list(build_profile(array).inputs) == ["input-0[0]", "input-0[1]", "input-0[2]"]
    assert list(build_profile(array, input_name="x").inputs) == ["x[0]", "x[1]", "x[2]"]
    assert list(build_profile({"a": array[:, :1], "b": array[:, 0]}).inputs) == ["a", "b"]
    outputs = build_profile(array, outputs=np.zeros((40, 2)), output_name="proba").outputs
    assert list(outputs) == ["proba[0]", "proba[1]"]


def test_a_profile_stays_small_whatever_the_sample_size() -> None:
    sample = np.random.default_rng(1).normal(size=(200_000, 40))

    encoded = json.dumps(build_profile(sample).to_json())

    assert len(encoded) < 1_000_000


def test_a_profile_reads_back_from_its_json() -> None:
    frame = pd.DataFrame({"x": np.arange(100.0), "c": ["a", "b"] * 50, "t": [f"w{i} x" for i in range(100)]})
    profile = build_profile(frame, outputs={"predict": np.arange(100) % 3})

    assert Profile.from_json(json.loads(json.dumps(profile.to_json()))) == profile


@pytest.mark.parametrize(
    "sample",
    [
        {},
        np.ones((0, 3)),
        {"a": [1, 2], "b": [1]},
        [[1, 2], [3]],
        pd.DataFrame([[1, 2]], columns=["a", "a"]),
        {"z": [1 + 2j, 3j]},
    ],
)
def test_a_bad_sample_is_a_clear_error(sample: Any) -> None:
    with pytest.raises(BerthError) as caught:
        build_profile(sample)

    assert caught.value.code is ErrorCode.INVALID_REQUEST


def test_outputs_need_one_row_per_sample_row() -> None:
    with pytest.raises(BerthError) as caught:
        build_profile(np.ones((10, 2)), outputs=np.ones(9))

    assert caught.value.code is ErrorCode.INVALID_REQUEST


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(body=_json)
def test_from_json_of_anything_is_a_profile_or_a_clear_error(body: Any) -> None:
    code = None
    try:
        Profile.from_json(body)
    except BerthError as exc:
        code = exc.code
    assert code in (None, ErrorCode.INVALID_REQUEST)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**62), 2**62)),
        min_size=1,
        max_size=60,
    )
)
def test_any_numbers_give_a_finite_json_profile(values: list[float]) -> None:
    profile = build_profile({"x": np.asarray(values, dtype=np.float64)})

    text = json.dumps(profile.to_json(), allow_nan=False)  # never NaN or infinity
    assert Profile.from_json(json.loads(text)) == profile
