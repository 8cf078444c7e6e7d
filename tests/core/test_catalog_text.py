"""What the catalog derives: a model's task, its search text, a query's words, a safe example."""

from __future__ import annotations

import pytest

from berth.core.catalog import (
    MAX_QUERY_WORDS,
    CatalogQuery,
    derive_task,
    query_words,
    search_text,
    synthetic_request,
)
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import InputLayout, Signature, TensorSpec

FLOATS = (TensorSpec("input-0", "FP64", (-1, 4)),)
PROBA = TensorSpec("predict_proba", "FP64", (-1, 2))


def _signature(inputs: tuple[TensorSpec, ...], *outputs: TensorSpec) -> Signature:
    layout = InputLayout.TENSOR if len(inputs) == 1 else InputLayout.COLUMNS
    return Signature(inputs=inputs, outputs=outputs, layout=layout, default_outputs=(outputs[0].name,))


@pytest.mark.parametrize(
    ("signature", "task"),
    [
        (_signature(FLOATS, TensorSpec("predict", "INT64", (-1,)), PROBA), "classification"),
        (_signature(FLOATS, TensorSpec("predict", "BYTES", (-1,))), "classification"),
        (_signature(FLOATS, TensorSpec("predict", "FP64", (-1,))), "regression"),
        (_signature((TensorSpec("text", "BYTES", (-1,)),), TensorSpec("predict", "FP32", (-1, 8))), "text"),
        (_signature(FLOATS, TensorSpec("a", "FP32", (-1,)), TensorSpec("b", "FP32", (-1,))), ""),
        (None, ""),
    ],
)  # fmt: skip
def test_the_task_is_derived_from_the_signature(signature: Signature | None, task: str) -> None:
    assert derive_task(signature) == task


def test_a_task_tag_names_the_task() -> None:
    regression = _signature(FLOATS, TensorSpec("predict", "FP64", (-1,)))

    assert derive_task(regression, {"task": "Forecasting"}) == "forecasting"


def test_search_text_holds_every_searched_field_lower_cased() -> None:
    text = search_text(
        name="Churn-V2",
        description="Scores CHURN",
        contact="ana@a.example",
        tags={"domain": "Retail"},
        task="classification",
        flavor="xgboost",
        metric_names=["ROC_AUC"],
        card={"limitations": "Not for Credit"},
    )

    for word in (
        "churn-v2",
        "scores churn",
        "ana@a.example",
        "domain retail",
        "xgboost",
        "roc_auc",
        "credit",
    ):
        assert word in text
    assert text == text.lower()


def test_query_words_are_lower_cased_unique_and_bounded() -> None:
    assert query_words("Churn  churn AUC") == ("churn", "auc")
    assert query_words(None) == ()
    with pytest.raises(BerthError) as caught:
        query_words(" ".join(f"w{i}" for i in range(MAX_QUERY_WORDS + 1)))
    assert caught.value.code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    "query", [CatalogQuery(sort="best"), CatalogQuery(kind="team"), CatalogQuery(limit=0)]
)
def test_a_bad_query_is_invalid_request(query: CatalogQuery) -> None:
    with pytest.raises(BerthError) as caught:
        query.checked()
    assert caught.value.code is ErrorCode.INVALID_REQUEST


def test_the_synthetic_example_has_the_signature_shapes_and_no_data() -> None:
    signature = _signature(
        (
            TensorSpec("age", "FP64", (-1,)),
            TensorSpec("city", "BYTES", (-1,)),
            TensorSpec("x", "INT32", (-1, 3)),
        ),
        TensorSpec("predict", "FP64", (-1,)),
    )

    body = synthetic_request(signature)

    assert body == {
        "inputs": [
            {"name": "age", "datatype": "FP64", "shape": [1], "data": [0.0]},
            {"name": "city", "datatype": "BYTES", "shape": [1], "data": ["text"]},
            {"name": "x", "datatype": "INT32", "shape": [1, 3], "data": [0, 0, 0]},
        ]
    }
