"""Bounded messages and linear duplicate checks (issue 12 items 6 and 15): what a caller sends is
never echoed in full, and finding duplicates among many names takes one pass."""

from __future__ import annotations

import pickle
import time
import urllib.parse

import numpy as np
import pytest

from berth.core.bounded import MAX_MESSAGE_CHARS, clip, duplicates, preview
from berth.core.codecs.model_io import to_model_input
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import Signature, TensorSpec
from berth.core.tensors import Tensor
from berth.server.grpc.status import MAX_STATUS_DETAILS_BYTES, status_details


def test_duplicates_of_many_names_are_found_in_one_pass() -> None:
    names = [f"n{k}" for k in range(200_000)] * 2
    started = time.perf_counter()
    assert len(duplicates(names)) == 200_000
    assert time.perf_counter() - started < 1.0  # list.count made this 8e10 comparisons


def test_a_signature_check_over_many_duplicated_inputs_is_fast_and_short() -> None:
    signature = Signature(inputs=(TensorSpec("x", "FP32", (-1,)),), outputs=())
    inputs = [Tensor(f"i{k % 20_000}", "FP32", (1,), np.zeros(1, np.float32)) for k in range(40_000)]
    started = time.perf_counter()
    with pytest.raises(BerthError) as caught:
        to_model_input(inputs, signature)
    assert time.perf_counter() - started < 1.0
    assert caught.value.code is ErrorCode.SIGNATURE_MISMATCH
    assert len(caught.value.message) < 1000
    assert "more" in caught.value.message


def test_preview_shows_a_few_short_items() -> None:
    assert preview(["a", "b"]) == "['a', 'b']"
    shown = preview(["x" * 10_000] * 50)
    assert len(shown) < 1200
    assert shown.endswith("(40 more)]")
    assert preview(iter(range(3))) == "[0, 1, 2]"


def test_every_error_message_and_string_detail_is_clipped() -> None:
    error = BerthError(ErrorCode.INVALID_REQUEST, "m" * 1_000_000, input="n" * 1_000_000)
    assert len(error.message) <= MAX_MESSAGE_CHARS
    assert len(error.details["input"]) <= 200
    assert clip("short") == "short"


def test_errors_pickle_with_their_code_and_details() -> None:
    """Errors raised in a decoding process come back whole."""
    error = pickle.loads(pickle.dumps(BerthError(ErrorCode.TOO_MANY_TENSORS, "too many", limit=3)))
    assert (error.code, error.message, error.details) == (
        ErrorCode.TOO_MANY_TENSORS,
        "too many",
        {"limit": 3},
    )


@pytest.mark.parametrize("text", ["a" * 100_000, "é" * 100_000, "%" * 100_000, "\n" * 100_000, "ok"])
def test_grpc_status_details_always_fit(text: str) -> None:
    details = status_details(text)
    encoded = urllib.parse.quote(details.encode("utf-8"), safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")
    assert len(encoded) <= MAX_STATUS_DETAILS_BYTES
    assert text.startswith(details.removesuffix(" ..."))
