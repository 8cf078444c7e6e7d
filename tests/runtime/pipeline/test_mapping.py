"""The map post-step: label -> value tables, keys compared as strings."""

from __future__ import annotations

import numpy as np

from berth.runtime.pipeline import Frame

from .helpers import fails, frame, invalid, post

TEAMS = {
    "type": "map",
    "column": "predict",
    "into": "team",
    "mapping": {"billing": "finance", "fraud": "fraud-desk"},
}


def test_labels_map_to_values_with_a_default() -> None:
    result = post([{**TEAMS, "default": "other"}], frame(predict=["fraud", "billing", "spam", "fraud"]))
    assert result["team"].tolist() == ["fraud-desk", "finance", "other", "fraud-desk"]
    assert result["predict"].tolist() == ["fraud", "billing", "spam", "fraud"]


def test_unmapped_labels_without_default_are_null() -> None:
    result = post([TEAMS], frame(predict=["spam", "fraud"]))
    assert result["team"].tolist() == [None, "fraud-desk"]


def test_numeric_labels_match_by_string_form() -> None:
    step = {"type": "map", "into": "name", "mapping": {"0": "no", "1": "yes"}, "default": "?"}
    assert post([step], frame(predict=[1, 0, 2]))["name"].tolist() == ["yes", "no", "?"]
    assert post([step], frame(predict=[1.0, np.nan]))["name"].tolist() == ["yes", "?"]
    flags = {"type": "map", "into": "name", "mapping": {"true": 1, "false": 0}}
    assert post([flags], Frame({"predict": np.array([True, False])}))["name"].tolist() == [1, 0]


def test_booleans_and_numbers_in_an_object_column_stay_apart() -> None:
    step = {"type": "map", "into": "t", "mapping": {"true": "yes", "1": "one"}, "default": "?"}
    data = Frame({"predict": np.array([True, 1, 1.0, "x"], dtype=object)})
    assert post([step], data)["t"].tolist() == ["yes", "one", "one", "?"]


def test_numbers_map_to_numbers_with_nan_for_unmapped() -> None:
    step = {"type": "map", "into": "score", "mapping": {"a": 1.5, "b": 2}}
    result = post([step], frame(predict=["a", "b", "c"]))["score"]
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, [1.5, 2.0, np.nan])


def test_empty_strings_and_none_in_object_columns() -> None:
    step = {"type": "map", "into": "t", "mapping": {"": "blank"}, "default": "other"}
    data = Frame({"predict": np.array(["", None, "x"], dtype=object)})
    assert post([step], data)["t"].tolist() == ["blank", "other", "other"]


def test_into_defaults_to_the_column() -> None:
    step = {"type": "map", "mapping": {"a": "A"}, "default": "-"}
    result = post([step], frame(predict=["a", "b"]))
    assert result.names == ("predict",)
    assert result["predict"].tolist() == ["A", "-"]


def test_no_rows() -> None:
    result = post([{**TEAMS, "default": "x"}], Frame({"predict": np.array([], dtype=object)}))
    assert result["team"].shape == (0,)


def test_map_failures() -> None:
    fails(lambda: post([TEAMS], Frame({"predict": np.zeros((2, 2))})), "map needs one value per row")
    fails(lambda: post([TEAMS], frame(label=["a"])), "post[0] (map)", "no column 'predict'")


def test_map_spec_errors() -> None:
    invalid({"post": [{**TEAMS, "mapping": {"a": "x", "b": 1}}]}, "of one kind")
    invalid({"post": [{**TEAMS, "mapping": {"a": True}}]}, "needs a boolean 'default'")
    invalid({"post": [{**TEAMS, "mapping": {"a": None}}]}, "the value of 'a'")
    invalid({"post": [{**TEAMS, "default": {"x": 1}}]}, "'default' must be")
    invalid({"pre": [TEAMS]}, "pre[0]", "unknown pre-step type 'map'")
