"""The select, rename and defaults pre-steps."""

from __future__ import annotations

import math

import numpy as np

from berth.runtime.pipeline import Frame

from .helpers import fails, frame, invalid, pre


def test_select_keeps_columns_in_its_order() -> None:
    result = pre([{"type": "select", "columns": ["b", "a"]}], frame(a=[1], b=[2], c=[3]))
    assert result.names == ("b", "a")


def test_select_of_a_missing_column_fails_naming_it() -> None:
    error = fails(
        lambda: pre([{"type": "select", "columns": ["zz"]}], frame(a=[1])), "pre[0] (select)", "'zz'"
    )
    assert error.details["step"] == 0


def test_select_spec_errors() -> None:
    invalid({"pre": [{"type": "select", "columns": []}]}, "pre[0] (select)", "non-empty list")
    invalid({"pre": [{"type": "select", "columns": ["a", "a"]}]}, "more than once")
    invalid({"pre": [{"type": "select", "columns": ["a", 3]}]}, "'columns[1]'")
    invalid({"pre": [{"type": "select"}]}, "missing key 'columns'")
    invalid({"pre": [{"type": "select", "columns": ["a"], "extra": 1}]}, "unknown keys ['extra']")


def test_rename_keeps_positions_and_allows_a_swap() -> None:
    assert pre([{"type": "rename", "columns": {"a": "z"}}], frame(a=[1], b=[2])).names == ("z", "b")
    swapped = pre([{"type": "rename", "columns": {"a": "b", "b": "a"}}], frame(a=[1], b=[2]))
    assert (swapped["a"].tolist(), swapped["b"].tolist()) == ([2], [1])


def test_rename_onto_a_kept_column_fails() -> None:
    fails(
        lambda: pre([{"type": "rename", "columns": {"a": "b"}}], frame(a=[1], b=[2])), "overwrite column 'b'"
    )


def test_rename_onto_a_kept_column_is_refused_statically_when_known() -> None:
    invalid(
        {"pre": [{"type": "select", "columns": ["a", "b"]}, {"type": "rename", "columns": {"a": "b"}}]},
        "pre[1] (rename)",
        "overwrite column 'b'",
    )


def test_rename_of_two_columns_to_one_name_is_refused() -> None:
    invalid(
        {"pre": [{"type": "rename", "columns": {"a": "c", "b": "c"}}]}, "two columns would be renamed to 'c'"
    )
    invalid({"pre": [{"type": "rename", "columns": {"a": ""}}]}, "the new name of 'a'")
    invalid({"pre": [{"type": "rename", "columns": {}}]}, "non-empty object")


def test_defaults_add_missing_columns() -> None:
    result = pre([{"type": "defaults", "values": {"country": "BE", "age": 40}}], frame(x=[1, 2]))
    assert result["country"].tolist() == ["BE", "BE"]
    assert result["country"].dtype == object
    assert result["age"].tolist() == [40, 40]


def test_defaults_replace_nan_and_none_but_not_empty_strings() -> None:
    data = Frame(
        {
            "age": np.array([np.nan, 30.0]),
            "city": np.array([None, "", "Gent"], dtype=object)[:2],
            "n": np.array([1, 2]),
        }
    )
    result = pre([{"type": "defaults", "values": {"age": 40, "city": "Brussels", "n": 7}}], data)
    assert result["age"].tolist() == [40.0, 30.0]
    assert result["city"].tolist() == ["Brussels", ""]
    assert result["n"].tolist() == [1, 2]


def test_defaults_fill_a_2d_float_column() -> None:
    data = Frame({"x": np.array([[1.0, np.nan], [np.nan, 4.0]])})
    result = pre([{"type": "defaults", "values": {"x": 0}}], data)
    assert result["x"].tolist() == [[1.0, 0.0], [0.0, 4.0]]


def test_an_all_nan_column_takes_a_text_default() -> None:
    result = pre([{"type": "defaults", "values": {"x": "none"}}], Frame({"x": np.array([np.nan])}))
    assert result["x"].tolist() == ["none"]


def test_a_text_default_in_a_numeric_column_fails() -> None:
    data = Frame({"x": np.array([np.nan, 1.0])})
    fails(lambda: pre([{"type": "defaults", "values": {"x": "a"}}], data), "column 'x' holds numbers")
    texts = Frame({"t": np.array(["a", None], dtype=object)})
    fails(lambda: pre([{"type": "defaults", "values": {"t": 3}}], texts), "column 't' holds text")


def test_defaults_spec_errors() -> None:
    invalid({"pre": [{"type": "defaults", "values": {"a": None}}]}, "the default of 'a'")
    invalid({"pre": [{"type": "defaults", "values": {"a": [1]}}]}, "the default of 'a'")
    invalid({"pre": [{"type": "defaults", "values": {"a": math.inf}}]}, "finite number")
    invalid({"pre": [{"type": "defaults", "values": []}]}, "'values' must be a non-empty object")
