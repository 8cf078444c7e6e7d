"""The rules language's semantics: per row, in order; nulls, kinds, short-circuit, functions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from berth.runtime.pipeline import Frame

from .helpers import fails, frame, post

OUTPUTS = frame(predict=["billing", "fraud", "spam"])
INPUTS = Frame(
    {
        "text": np.array(["My card was stolen: FRAUD!", "double charge", ""], dtype=object),
        "amount": np.array([2500.0, np.nan, 10.0]),
        "predict": np.array(["in-1", "in-2", "in-3"], dtype=object),
    }
)


def rules(*texts: str, outputs: Frame = OUTPUTS, inputs: Frame = INPUTS) -> Frame:
    return post([{"type": "rules", "rules": list(texts)}], outputs, inputs)


def values(*texts: str, column: str = "y", **kwargs: Any) -> list[Any]:
    result: list[Any] = rules(*texts, **kwargs)[column].tolist()
    return result


def test_the_voice_routes_fraud_complaints() -> None:
    result = post(
        [
            {"type": "map", "into": "team", "mapping": {"billing": "finance"}, "default": "other"},
            {"type": "rules", "rules": ['if text contains "fraud" then team = "fraud-desk"']},
        ],
        OUTPUTS,
        INPUTS,
    )
    assert result["team"].tolist() == ["fraud-desk", "other", "other"]


def test_rules_apply_in_order_and_see_earlier_assignments() -> None:
    assert values('if true then y = "a"', 'if y == "a" and predict == "fraud" then y = "b"') == [
        "a",
        "b",
        "a",
    ]


def test_assignments_run_left_to_right() -> None:
    assert values("if true then y = 1, z = y", column="z") == [1, 1, 1]


def test_unassigned_rows_of_a_new_column_are_null() -> None:
    assert values('if predict == "spam" then y = "junk"') == [None, None, "junk"]
    result = rules('if predict == "spam" then y = 1')["y"]
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, [np.nan, np.nan, 1.0])


def test_boolean_columns_need_every_row() -> None:
    assert values("if amount > 100 then y = true else y = false") == [True, False, False]
    fails(lambda: rules("if amount > 100 then y = true"), "post[0] (rules)", "column 'y'", "add an 'else'")


def test_a_column_cannot_mix_kinds() -> None:
    fails(lambda: rules('if amount > 100 then y = "big" else y = 1'), "column 'y' number, text")


def test_outputs_first_then_inputs_and_explicit_scopes() -> None:
    assert values("if true then y = predict") == ["billing", "fraud", "spam"]
    assert values("if true then y = input.predict") == ["in-1", "in-2", "in-3"]
    assert values("if true then y = output.predict") == ["billing", "fraud", "spam"]
    np.testing.assert_array_equal(rules("if true then y = amount")["y"], [2500.0, np.nan, 10.0])


def test_unknown_fields_fail_naming_them() -> None:
    error = fails(lambda: rules("if nope == 1 then y = 1"), "rule 0: unknown output or input field 'nope'")
    assert error.details["field"] == "nope"
    fails(lambda: rules("if output.text == 1 then y = 1"), "unknown output field 'text'")
    fails(lambda: rules("if input.y == 1 then y = 1"), "unknown input field 'y'")


def test_an_existing_output_is_overwritten_keeping_unassigned_rows() -> None:
    assert values('if predict == "spam" then predict = "other"', column="predict") == [
        "billing",
        "fraud",
        "other",
    ]


def test_null_semantics() -> None:
    assert values("if amount is null then y = 1 else y = 0") == [0, 1, 0]
    assert values("if amount is not null then y = 1 else y = 0") == [1, 0, 1]
    assert values("if amount > 5 then y = 1 else y = 0") == [1, 0, 1]
    assert values("if amount == null then y = 1 else y = 0") == [0, 1, 0]
    assert values("if not (amount > 5) then y = 1 else y = 0") == [0, 1, 0]
    assert values("if amount then y = 1 else y = 0", inputs=Frame({"amount": np.array([np.nan] * 3)})) == [
        0,
        0,
        0,
    ]
    assert values("if true then y = coalesce(amount, -1)") == [2500.0, -1.0, 10.0]


def test_text_tests_are_case_insensitive_and_equality_is_not() -> None:
    assert values('if text contains "fraud" then y = 1 else y = 0') == [1, 0, 0]
    assert values('if text startswith "my CARD" then y = 1 else y = 0') == [1, 0, 0]
    assert values('if text endswith "CHARGE" then y = 1 else y = 0') == [0, 1, 0]
    assert values('if predict == "Fraud" then y = 1 else y = 0') == [0, 0, 0]
    assert values('if lower(predict) == "fraud" then y = 1 else y = 0') == [0, 1, 0]
    assert values('if text == "" then y = 1 else y = 0') == [0, 0, 1]
    assert values('if text contains "" then y = 1 else y = 0') == [1, 1, 1]


def test_kinds_equality_is_false_ordering_fails() -> None:
    assert values('if amount == "10" then y = 1 else y = 0') == [0, 0, 0]
    assert values("if true == 1 then y = 1 else y = 0") == [0, 0, 0]
    assert values("if 1 == 1.0 then y = 1 else y = 0") == [1, 1, 1]
    error = fails(
        lambda: rules('if amount > "10" then y = 1'), "rule 0, row 0: cannot compare number 2500.0 > text"
    )
    assert error.details["row"] == 0
    fails(lambda: rules("if text contains 1 then y = 1"), "contains takes text")
    fails(lambda: rules("if predict then y = 1"), "the condition needs true/false, got text 'billing'")
    fails(lambda: rules("if -predict == 1 then y = 1"), "'-' takes a number")


def test_and_or_short_circuit() -> None:
    # the right side would fail (text in a condition) if it were evaluated
    assert values("if false and predict then y = 1 else y = 0") == [0, 0, 0]
    assert values("if true or predict then y = 1 else y = 0") == [1, 1, 1]
    fails(lambda: rules("if true and predict then y = 1"), "'and' needs true/false")


def test_in_lists() -> None:
    assert values('if predict in ["fraud", "spam"] then y = 1 else y = 0') == [0, 1, 1]
    assert values('if predict not in ["fraud", "spam"] then y = 1 else y = 0') == [1, 0, 0]
    assert values("if amount in [10, 2500] then y = 1 else y = 0") == [1, 0, 1]
    fails(lambda: rules('if predict in "fraud" then y = 1'), "'in' takes a list")


def test_2d_columns_are_lists() -> None:
    outputs = Frame({"predict_proba": np.array([[0.9, 0.1], [0.55, np.nan], [0.2, 0.8]])})
    inputs = Frame({}, 3)
    result = rules(
        'if max(predict_proba) < 0.6 then review = "human" else review = "auto"',
        "if true then n = len(predict_proba), top = max(predict_proba)",
        "if predict_proba contains 0.8 then hit = true else hit = false",
        outputs=outputs,
        inputs=inputs,
    )
    assert result["review"].tolist() == ["auto", "human", "auto"]
    assert result["n"].tolist() == [2, 2, 2]
    assert result["top"].tolist() == [0.9, 0.55, 0.8]
    assert result["hit"].tolist() == [False, False, True]


def test_assigning_a_2d_column_fails() -> None:
    outputs = Frame({"p": np.zeros((3, 2))})
    fails(lambda: rules("if true then p = 1", outputs=outputs), "assigns 'p', a column with 2 dimensions")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('upper("ab")', "AB"),
        ('lower("AB")', "ab"),
        ('trim("  a ")', "a"),
        ('len("abc")', 3),
        ("abs(-2.5)", 2.5),
        ("round(2.567, 2)", 2.57),
        ("round(2.5)", 2),
        ("min(3, 1, 2)", 1),
        ('max("a", "b")', "b"),
        ("max([1, null, 3])", 3),
        ("min(null, null)", None),
        ("coalesce(null, 2)", 2),
        ("lower(null)", None),
        ("len(null)", None),
        ("abs(null)", None),
        ("-(3)", -3),
        ("- -3", 3),
        ('"a\\tb"', "a\tb"),
        ("1 < 2", True),
        ('"b" >= "a"', True),
    ],
)
def test_functions_and_literals(expr: str, expected: Any) -> None:
    one = frame(predict=["x"])
    (value,) = values(f"if true then y = {expr}", outputs=one, inputs=Frame({}, 1))
    if expected is None:  # a column of nulls only is NaN
        assert np.isnan(value)
    else:
        assert value == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("abs('a')", "abs takes a number"),
        ("len(1)", "len takes text or a list"),
        ("round(1, 20)", "round's digits"),
        ("max(1, 'a')", "max takes numbers or texts"),
        ("upper(1)", "upper takes text"),
    ],
)
def test_function_failures(expr: str, message: str) -> None:
    fails(
        lambda: values(f"if true then y = {expr}", outputs=frame(predict=["x"]), inputs=Frame({}, 1)), message
    )


def test_no_rows() -> None:
    empty = Frame({"predict": np.array([], dtype=object)})
    assert rules('if predict == "a" then y = 1', outputs=empty, inputs=Frame({}, 0))["y"].shape == (0,)


def test_inputs_and_outputs_must_agree_on_rows() -> None:
    fails(
        lambda: rules("if true then y = 1", inputs=Frame({}, 2)), "the inputs have 2 rows and the outputs 3"
    )


def test_a_rule_may_read_what_it_creates() -> None:
    assert values("if output.y is null then y = 1") == [1, 1, 1]
